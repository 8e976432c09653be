"""The Bokeh page behind :func:`gdcore.explore` (imported only when a page is built).

Every run is precomputed in Python; the page stores them flat (float32, one
column per quantity, run r at rows ``r*(epochs+1) .. (r+1)*(epochs+1)``) and a
single ``CustomJS`` callback copies the chosen run's slices into the plotted
sources when a slider moves.  Strings from the data reach the page only as
canvas text (titles, axis labels, legends), through ``Div(render_as_text=True)``
or after ``html.escape``.
"""

from __future__ import annotations

import html

import numpy as np
from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.events import DocumentReady
from bokeh.layouts import column, row
from bokeh.models import (
    BoxAnnotation,
    ColorBar,
    ColumnDataSource,
    CustomJS,
    CustomJSTickFormatter,
    Div,
    Label,
    Legend,
    LegendItem,
    LogColorMapper,
    PlainText,
    Range1d,
    Slider,
    Span,
)
from bokeh.plotting import figure
from bokeh.resources import INLINE

_FIG_W, _FIG_H = 485, 330
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")

# The one hand-written callback: pick run r = j K + i and copy its slices.
_SWITCH = """
const K = n_lrs, E1 = n_epochs + 1;
const i = Math.round(lr.value), j = beta === null ? 0 : Math.round(beta.value);
const r = j * K + i, o = r * E1;
const s = store.data;
const cut = (name) => s[name].slice(o, o + E1);
loss.data = {epoch: loss.data.epoch, meas: cut('meas'), pred: cut('pred')};
path.data = {x: cut('px'), y: cut('py'), epoch: loss.data.epoch};
const c = {epoch: comp.data.epoch};
for (const name of comp_cols) { c[name] = cut(name); }
comp.data = c;
here.data = {x: [lrs[i]], y: [rho[j][i]]};
curve.data = {x: curve.data.x, y: rho_fine[j]};
if (spot !== null) { spot.data = {x: [lrs[i]], y: [betas[j]]}; }
status.text = texts[r];
"""

# Label the sliders' handles (noUiSlider renders role="slider" without a name) and
# let screen readers hear the learning rate, not the slider's index.
_READY = """
const handles = [];
const walk = (root) => {
  for (const el of root.querySelectorAll('*')) {
    if (el.getAttribute('role') === 'slider') { handles.push(el); }
    if (el.shadowRoot) { walk(el.shadowRoot); }
  }
};
walk(document);
handles.forEach((el, k) => {
  if (k >= names.length) { return; }
  el.setAttribute('aria-label', names[k]);
  const target = el.closest('.noUi-target');
  const say = () => {
    const v = Math.round(sliders[k].value);
    const t = labels === null ? values[k][v].toPrecision(3) : labels[k][v];
    el.setAttribute('aria-valuetext', names[k] + ' ' + t);
  };
  if (target && target.noUiSlider) { target.noUiSlider.on('update.gdcore', say); }
  say();
});
"""


def _fmt(v, spec=".3g"):
    return "-" if v is None else format(v, spec)


def _status_text(st, lr, beta, lr_opt, regime, factors, lam):
    status, conv, div, pred = st
    if status == "converged":
        what = f"converged at epoch {conv} (predicted {_fmt(pred, 'd')})"
    elif status == "diverged":
        what = f"diverged, stopped at epoch {div}"
    else:
        what = f"not converged after the last epoch (predicted {_fmt(pred, 'd')})"
    kind = "plain gradient descent" if beta == 0 else f"heavy-ball momentum beta = {beta:.2g}"
    name = "|1 - lr*lambda_i|" if beta == 0 else "contraction"
    fac = ", ".join(f"{f:.3g} (lambda {lv:.3g})" for f, lv in zip(factors, lam))
    return (f"lr = {lr:.4g} ({lr / lr_opt:.2f} x lr_opt), {kind}: {regime}; {what}. "
            f"Per-epoch factor {name} along each eigen-direction: {fac}.")


def _clip_gap(g, floor, cap):
    g = np.where(np.isfinite(g), g, np.where(np.isnan(g), np.nan, cap * 10))
    return np.clip(g, floor, cap * 10)


def _edges(v, log):
    v = np.asarray(v, dtype=np.float64)
    if v.size == 1:
        return (v / 1.2, v * 1.2) if log else (v - 0.05, v + 0.05)
    mid = np.sqrt(v[1:] * v[:-1]) if log else (v[1:] + v[:-1]) / 2
    first = v[0] ** 2 / mid[0] if log else 2 * v[0] - mid[0]
    last = v[-1] ** 2 / mid[-1] if log else 2 * v[-1] - mid[-1]
    return np.concatenate([[first], mid]), np.concatenate([mid, [last]])


def build(D) -> str:
    lrs, betas, stab = D.lrs, D.betas, D.stab
    K, J, E, d = lrs.size, betas.size, D.epochs, D.d
    E1 = E + 1
    sel, lam_sel = D.sel, D.lam[D.sel]
    lr_opt, lr_crit, lam_max = stab.lr_opt, stab.lr_crit, stab.lambda_max
    # start at lr_opt, plain gradient descent
    i0 = int(np.argmin(np.abs(np.log(lrs / lr_opt))))
    r0 = i0

    gap0 = float(D.pred[0, 0])
    floor = max(gap0 * 1e-16, 1e-300) if gap0 > 0 else 1e-16
    cap = max(gap0, floor) * 1e6
    meas = _clip_gap(D.meas, floor, cap)
    pred = _clip_gap(D.pred, floor, cap)

    # --- where the iterates go: the weights for 2 columns, else the top two eigen-directions
    hist, w_star = D.hist, D.w_star
    names = D.feature_names
    if d == 2:
        px, py = hist[:, :, 0], hist[:, :, 1]
        xlab, ylab = f"w[0] ({names[0]})", f"w[1] ({names[1]})"
    elif d >= 3:
        full = D.comps  # selected, descending lambda: 0 is the top direction
        px, py = full[:, :, 1], full[:, :, 0]
        xlab = f"eigen-direction 2 (lambda = {lam_sel[1]:.3g})"
        ylab = f"eigen-direction 1 (lambda = {lam_sel[0]:.3g})"
    else:
        px, py = hist[:, :, 0], meas.copy()
        xlab, ylab = f"w[0] ({names[0]})", "loss gap L - L*"
    if D.standardize and d <= 2:
        xlab, ylab = xlab + ", standardized", ylab + ("" if d == 1 else ", standardized")

    comp_abs = np.clip(np.abs(D.comps), 1e-300, None)
    comp_pred = np.clip(np.abs(D.comp_pred), 1e-300, None)
    c_top = max(float(np.max(np.abs(D.c0[sel]))), 1e-300)
    c_floor, c_cap = c_top * 1e-9, c_top * 1e3
    comp_abs = np.clip(comp_abs, c_floor, c_cap * 10)
    comp_pred = np.where(np.isfinite(comp_pred), comp_pred, c_cap * 10).clip(c_floor, c_cap * 10)

    f32 = np.float32
    store_data = {
        "meas": meas.astype(f32).ravel(), "pred": pred.astype(f32).ravel(),
        "px": px.astype(f32).ravel(), "py": py.astype(f32).ravel(),
    }
    comp_cols = []
    for s in range(len(sel)):
        store_data[f"m{s}"] = comp_abs[:, :, s].astype(f32).ravel()
        store_data[f"p{s}"] = comp_pred[:, :, s].astype(f32).ravel()
        comp_cols += [f"m{s}", f"p{s}"]
    store = ColumnDataSource(store_data, name="gdcore-store")

    def run_slice(name, r=r0):
        return store_data[name][r * E1:(r + 1) * E1]

    epoch = np.arange(E1, dtype=f32)
    loss_src = ColumnDataSource({"epoch": epoch, "meas": run_slice("meas"), "pred": run_slice("pred")},
                                name="gdcore-loss")
    path_src = ColumnDataSource({"x": run_slice("px"), "y": run_slice("py"), "epoch": epoch},
                                name="gdcore-path")
    comp_src = ColumnDataSource({"epoch": epoch, **{c: run_slice(c) for c in comp_cols}},
                                name="gdcore-components")

    # --- 1. loss gap per epoch
    p_loss = figure(width=_FIG_W, height=_FIG_H, y_axis_type="log", title="Loss gap L - L* per epoch",
                    x_range=Range1d(0, E), y_range=Range1d(floor, cap), tools="pan,wheel_zoom,reset,save")
    p_loss.xaxis.axis_label, p_loss.yaxis.axis_label = "epoch", "L - L*"
    r_m = p_loss.line("epoch", "meas", source=loss_src, line_width=2.5, color=_PALETTE[0])
    p_loss.scatter("epoch", "meas", source=loss_src, size=4, color=_PALETTE[0])
    r_p = p_loss.line("epoch", "pred", source=loss_src, line_width=1.5, color="black", line_dash="dashed")
    level = Span(location=D.rtol * gap0 if gap0 > 0 else floor, dimension="width",
                 line_dash="dotted", line_color="grey")
    p_loss.add_layout(level)
    p_loss.add_layout(Legend(items=[LegendItem(label="measured", renderers=[r_m]),
                                    LegendItem(label="predicted (closed form)", renderers=[r_p])],
                             location="bottom_left"))

    # --- 2. path of the iterates on the loss contours
    stable = np.isfinite(px) & np.isfinite(py)
    # the box: every point of the plain runs that converged (momentum may swing further)
    runs_ok = np.array([r < K and D.status[0][r][0] == "converged" for r in range(J * K)])
    if not runs_ok.any():
        runs_ok = np.array([D.status[r // K][r % K][0] != "diverged" for r in range(J * K)])
    xs, ys = px[runs_ok][stable[runs_ok]], py[runs_ok][stable[runs_ok]]
    cx = w_star[0] if d <= 2 else 0.0
    cy = (w_star[1] if d == 2 else 0.0) if d >= 2 else 0.0
    xs = np.append(xs, [cx, px[r0, 0]])
    ys = np.append(ys, [cy, py[r0, 0]]) if d >= 2 else np.append(ys, [floor, py[r0, 0]])
    x0, x1 = float(np.min(xs)), float(np.max(xs))
    padx = 0.08 * (x1 - x0 or 1.0)
    x0, x1 = x0 - padx, x1 + padx
    p_path = figure(width=_FIG_W, height=_FIG_H, tools="pan,wheel_zoom,reset,save",
                    title="Path of the iterates on the loss contours",
                    x_range=Range1d(x0, x1), y_axis_type="log" if d == 1 else "linear")
    p_path.xaxis.axis_label, p_path.yaxis.axis_label = PlainText(xlab), PlainText(ylab)
    if d >= 2:
        y0, y1 = float(np.min(ys)), float(np.max(ys))
        pady = 0.08 * (y1 - y0 or 1.0)
        y0, y1 = y0 - pady, y1 + pady
        p_path.y_range = Range1d(y0, y1)
        gx, gy = np.meshgrid(np.linspace(x0, x1, 120), np.linspace(y0, y1, 120))
        if d == 2:
            G = D.stab._quad.G
            ex, ey = gx - w_star[0], gy - w_star[1]
            z = G[0, 0] * ex * ex + 2 * G[0, 1] * ex * ey + G[1, 1] * ey * ey
        else:
            z = lam_sel[1] / 2 * gx * gx + lam_sel[0] / 2 * gy * gy
        z = np.maximum(z, 0.0)
        zmax = float(np.max(z))
        levels = [v for v in (gap0 * np.geomspace(1e-3, 4, 9)) if v < zmax] or [zmax / 2]
        if len(levels) >= 2:
            p_path.contour(gx, gy, z, levels, line_color="#bbbbbb", line_width=1)
        p_path.scatter([cx], [cy], marker="star", size=14, color="black", legend_label="optimum w*")
    else:
        wx = np.linspace(x0, x1, 200)
        gz = np.clip(stab.eigenvalues[0] / 2 * (wx - w_star[0]) ** 2, floor, None)
        p_path.y_range = Range1d(floor, cap)
        p_path.line(wx, gz, color="#bbbbbb", line_width=2)
    p_path.line("x", "y", source=path_src, color=_PALETTE[1], line_width=1.5)
    p_path.scatter("x", "y", source=path_src, color=_PALETTE[1], size=5)
    p_path.scatter([px[r0, 0]], [py[r0, 0]], marker="square", size=9, color="grey", legend_label="start w0")
    p_path.legend.location = "top_right"

    # --- 3. error along each eigen-direction, with its factor
    p_comp = figure(width=_FIG_W, height=_FIG_H, y_axis_type="log", tools="pan,wheel_zoom,reset,save",
                    title="Error along each eigen-direction of H",
                    x_range=Range1d(0, E), y_range=Range1d(c_floor, c_cap))
    p_comp.xaxis.axis_label, p_comp.yaxis.axis_label = "epoch", "|component of w - w*|"
    items = []
    for s in range(len(sel)):
        col = _PALETTE[s % len(_PALETTE)]
        a = p_comp.line("epoch", f"m{s}", source=comp_src, color=col, line_width=2.5)
        b = p_comp.line("epoch", f"p{s}", source=comp_src, color=col, line_width=1.2, line_dash="dashed")
        items.append(LegendItem(label=f"lambda = {lam_sel[s]:.3g}", renderers=[a, b]))
    p_comp.add_layout(Legend(items=items, location="bottom_left"))

    # --- 4. where the lr sits among the regimes
    lo, hi = float(lrs[0]) / 1.15, float(lrs[-1]) * 1.15
    fine = np.geomspace(lo, hi, 240)
    lam_pos = stab.eigenvalues[stab.eigenvalues > 0]
    from gdcore.analysis import spectral_radius
    from gdcore.core import Momentum

    def rho_of(lr_values, beta):
        return spectral_radius(Momentum(float(beta)), lam_pos, lr_values)

    rho_fine = [np.minimum(rho_of(fine, b), 1.6).round(5).tolist() for b in betas]
    rho_pts = [np.minimum(rho_of(lrs, b), 1.6).round(5).tolist() for b in betas]
    p_reg = figure(width=_FIG_W, height=_FIG_H, x_axis_type="log", tools="pan,wheel_zoom,reset,save",
                   title="Where the lr sits: regimes and contraction per epoch",
                   x_range=Range1d(lo, hi), y_range=Range1d(0, 1.6))
    p_reg.xaxis.axis_label, p_reg.yaxis.axis_label = "learning rate lr", "contraction factor per epoch"
    one_over = 1.0 / lam_max
    for left, right, colr, name in ((None, one_over, "#2ca02c", "monotone"),
                                     (one_over, lr_crit, "#ff7f0e", "oscillating"),
                                     (lr_crit, None, "#d62728", "divergent")):
        p_reg.add_layout(BoxAnnotation(left=left, right=right, fill_color=colr, fill_alpha=0.12))
        xpos = np.sqrt(max(left or lo, lo) * min(right or hi, hi))
        p_reg.add_layout(Label(x=xpos, y=1.5, text=name, text_align="center", text_font_size="11px",
                               text_color=colr))
    p_reg.add_layout(Span(location=1.0, dimension="width", line_color="grey", line_dash="dotted"))
    p_reg.add_layout(Span(location=lr_opt, dimension="height", line_color="#2ca02c", line_width=2))
    p_reg.add_layout(Span(location=lr_crit, dimension="height", line_color="#d62728", line_dash="dashed",
                          line_width=2))
    p_reg.add_layout(Label(x=lr_opt, y=0.05, text=f" lr_opt = {lr_opt:.3g}", text_font_size="11px"))
    p_reg.add_layout(Label(x=lr_crit, y=1.3, text=f" lr_crit = {lr_crit:.3g}", text_font_size="11px"))
    p_reg.line(fine, rho_fine[0], color="black", line_width=1.5, legend_label="plain GD max |1 - lr*lambda|")
    curve_src = ColumnDataSource({"x": fine, "y": rho_fine[0]}, name="gdcore-curve")
    p_reg.line("x", "y", source=curve_src, color=_PALETTE[0], line_width=2, line_dash="dashed",
               legend_label="with the chosen momentum")
    here_src = ColumnDataSource({"x": [float(lrs[i0])], "y": [rho_pts[0][i0]]}, name="gdcore-here")
    p_reg.scatter("x", "y", source=here_src, size=13, color=_PALETTE[0], line_color="black",
                  legend_label="the chosen run")
    p_reg.legend.location = "center_left"
    p_reg.legend.label_text_font_size = "10px"

    # --- 5. the (lr, beta) stability map
    p_map, spot_src = None, None
    if J > 1:
        left, right = _edges(lrs, True)
        bot, top = _edges(betas, False)
        bot, top = np.maximum(bot, -0.05), np.minimum(top, 1.0)  # momentum lives in [0, 1)
        L, B = np.meshgrid(np.arange(K), np.arange(J))
        cells = {"left": [], "right": [], "bottom": [], "top": [], "epochs": [], "kind": []}
        for j, i in zip(B.ravel(), L.ravel()):
            st, conv, _div, _pred = D.status[j][i]
            cells["left"].append(left[i])
            cells["right"].append(right[i])
            cells["bottom"].append(bot[j])
            cells["top"].append(top[j])
            cells["epochs"].append(float(conv) if st == "converged" else float("nan"))
            cells["kind"].append(st)
        cells["epochs"] = [max(e, 1.0) if e == e else e for e in cells["epochs"]]
        cmap = LogColorMapper(palette="Viridis256", low=1, high=max(E, 2), nan_color="#00000000")
        p_map = figure(width=_FIG_W, height=_FIG_H, x_axis_type="log", tools="pan,wheel_zoom,reset,save",
                       title="(lr, beta) stability map: epochs to converge",
                       x_range=Range1d(left[0], right[-1]), y_range=Range1d(bot[0], top[-1]))
        p_map.xaxis.axis_label, p_map.yaxis.axis_label = "learning rate lr", "momentum beta"
        src_cells = ColumnDataSource(cells)
        p_map.quad(left="left", right="right", bottom="bottom", top="top", source=src_cells,
                   fill_color={"field": "epochs", "transform": cmap}, line_color=None)
        div_cells = {k: [v for v, s in zip(cells[k], cells["kind"]) if s == "diverged"]
                     for k in ("left", "right", "bottom", "top")}
        p_map.quad(source=ColumnDataSource(div_cells), left="left", right="right", bottom="bottom",
                   top="top", fill_color="#f4c7c3", line_color=None, hatch_pattern="/",
                   hatch_color="#d62728", hatch_alpha=0.5, legend_label="diverged")
        slow = {k: [v for v, s in zip(cells[k], cells["kind"]) if s == "max_epochs"]
                for k in ("left", "right", "bottom", "top")}
        if slow["left"]:
            p_map.quad(source=ColumnDataSource(slow), left="left", right="right", bottom="bottom",
                       top="top", fill_color="#cccccc", line_color=None, legend_label="not yet converged")
        bb = np.linspace(bot[0], top[-1], 50)
        p_map.line(2 * (1 + bb) / lam_max, bb, color="crimson", line_width=2,
                   legend_label="lr * lambda_max = 2 (1 + beta)")
        p_lr, p_beta = stab.polyak()
        p_map.scatter([p_lr], [p_beta], marker="star", size=15, color="white", line_color="black",
                      legend_label="Polyak's pair")
        spot_src = ColumnDataSource({"x": [float(lrs[i0])], "y": [0.0]}, name="gdcore-spot")
        p_map.scatter("x", "y", source=spot_src, size=16, fill_color=None, line_color="black", line_width=3,
                      legend_label="the chosen run")
        legend = p_map.legend[0]  # below the map, where it hides no cell
        p_map.center.remove(legend)
        legend.update(orientation="horizontal", nrows=2, label_text_font_size="10px", padding=2,
                      spacing=6, margin=2)
        p_map.add_layout(legend, "below")
        p_map.height = _FIG_H + 50
        p_map.add_layout(ColorBar(color_mapper=cmap, width=10, title="epochs"), "right")

    # --- texts
    texts = []
    for j in range(J):
        for i in range(K):
            r = j * K + i
            regime = stab.regime(lrs[i]) if j == 0 else D.mom.regime[i * (J - 1) + (j - 1)]
            texts.append(_status_text(D.status[j][i], float(lrs[i]), float(betas[j]), lr_opt, regime,
                                      D.factors[r], lam_sel))
    status = Div(text=texts[r0], render_as_text=True, width=980, name="gdcore-status",
                 styles={"font-size": "14px", "padding": "4px 0"})

    lr_fmt = CustomJSTickFormatter(args={"v": [float(x) for x in lrs]}, code="return v[Math.round(tick)].toPrecision(3);")
    # one lr: a still slider (bokeh refuses start == end)
    lr_slider = Slider(start=0, end=max(K - 1, 1), step=1, value=i0, title="learning rate lr", format=lr_fmt,
                       width=470, name="gdcore-lr-slider", show_value=True, disabled=K == 1)
    sliders, names_, values = [lr_slider], ["learning rate lr"], [[float(x) for x in lrs]]
    beta_slider = None
    if J > 1:
        b_fmt = CustomJSTickFormatter(args={"v": [float(b) for b in betas]},
                                      code="return v[Math.round(tick)].toPrecision(2);")
        beta_slider = Slider(start=0, end=J - 1, step=1, value=0, title="momentum beta", format=b_fmt,
                             width=470, name="gdcore-beta-slider")
        sliders.append(beta_slider)
        names_.append("momentum beta")
        values.append([float(b) for b in betas])
    cb = CustomJS(args=dict(lr=lr_slider, beta=beta_slider, store=store, loss=loss_src, path=path_src,
                            comp=comp_src, comp_cols=comp_cols, here=here_src, curve=curve_src,
                            spot=spot_src, status=status, texts=texts, n_epochs=E, n_lrs=K,
                            lrs=[float(x) for x in lrs], betas=[float(b) for b in betas],
                            rho=rho_pts, rho_fine=rho_fine),
                  code=_SWITCH)
    for s in sliders:
        s.js_on_change("value", cb)

    # --- header (escaped: names and the file name come from the data) and the guide
    e = html.escape
    src = D.source
    feats = ", ".join(names)
    std = " (standardized)" if D.standardize else ""
    head = (f"<h1 style='font-size:22px;margin:4px 0'>{e(D.title)}</h1>"
            f"<p style='margin:2px 0'>data: {e(str(src)) if src else 'arrays'}, {D.n} rows; "
            f"target {e(str(D.target_name)) if D.target_name else 'y'}; "
            f"features {e(feats)}{std}. "
            f"Hessian H = (2/n) X<sup>T</sup>X: lambda_max = {lam_max:.4g}, "
            f"lambda_min = {stab.lambda_min:.4g}; lr_crit = {lr_crit:.4g}, lr_opt = {lr_opt:.4g}. "
            f"{K} learning rates x {J} momentums, {E} epochs, backend {e(D.backend)}: "
            "every curve below is a real gdcore run, the dashed ones its closed-form prediction.</p>"
            "<p style='margin:2px 0'>Move the sliders with the mouse, or focus one (Tab) and use the arrow "
            "keys (Page Up / Page Down for bigger steps).</p>")
    header = Div(text=head, width=980, name="gdcore-header")
    guide = Div(width=_FIG_W, text=_GUIDE, name="gdcore-guide", styles={"font-size": "13px"})
    grid = [row(p_loss, p_path), row(p_comp, p_reg), row(p_map if p_map is not None else Div(), guide)]
    layout = column(header, row(*sliders), status, *grid)

    doc = Document()
    doc.add_root(layout)
    doc.js_on_event(DocumentReady, CustomJS(args=dict(sliders=sliders, names=names_, values=values,
                                                      labels=None), code=_READY))
    return file_html(doc, INLINE, title=D.title)


_GUIDE = """
<h2 style='font-size:16px;margin:4px 0'>What each view shows</h2>
<ul style='padding-left:18px;margin:0'>
<li><b>Loss gap</b>: L - L* on a log scale; a constant factor per epoch is a straight line. Solid:
measured; dashed: the closed form sum_i (lambda_i/2) c_i<sup>2</sup> (1 - lr lambda_i)<sup>2k</sup>
(simulated exactly with momentum). Dotted: the convergence level (rtol of the first gap).</li>
<li><b>Path</b>: the iterates on the loss contours (the two weights; the top two eigen-directions of H
for more columns). Above 1/lambda_max the path zig-zags across the valley; above lr_crit it climbs out.</li>
<li><b>Eigen-directions</b>: the error along each eigenvector of H shrinks by its factor
|1 - lr lambda_i| every epoch (listed above the plots); dashed: that prediction.</li>
<li><b>Regimes</b>: the largest factor against lr. Green: monotone, orange: oscillating, red: divergent.
lr_opt = 2/(lambda_max + lambda_min) balances the two extreme factors; lr_crit = 2/lambda_max.</li>
<li><b>Stability map</b>: epochs to converge for every (lr, beta) pair; hatched: diverged. Momentum moves
the boundary to lr lambda_max = 2 (1 + beta).</li>
</ul>
"""


# ---------------------------------------------------------------------------
# the page for a model non-linear in its weights (no closed form: everything measured)

_SWITCH_MODEL = """
const i = Math.round(lr.value), E1 = n_epochs + 1, T = n_snap;
loss.data = {epoch: loss.data.epoch, loss: store.data.loss.slice(i * E1, (i + 1) * E1)};
sharp.data = {epoch: sharp.data.epoch, value: sstore.data.value.slice(i * T, (i + 1) * T)};
edge.data = {x: edge.data.x, y: [edges[i], edges[i]]};
edge_label.y = edges[i];
edge_label.text = edge_texts[i];
here.data = {x: [lrs[i]], y: [finals[i]]};
status.text = texts[i];
"""

_REGIME_COLOR = {"below-edge": "#2ca02c", "above-edge": "#ff7f0e", "divergent": "#d62728"}


def _model_status_text(sw, i, lr_crit, every):
    """One run's line above the plots: where its lr sits, what happened, where its sharpness ended."""
    lr, st, regime = float(sw.lrs[i]), sw.status[i], sw.regime[i]
    losses = sw.losses[i]
    L0 = float(losses[0])
    if regime == "below-edge":
        where = "below the edge (lr < 2/lambda_0)"
    elif regime == "above-edge":
        where = ("above the edge, inside the catapult bracket (2/lambda_0 <= lr < 4/lambda_0)"
                 if lr < 2 * lr_crit else "above the edge and beyond 4/lambda_0")
    else:
        where = "divergent (measured)"
    if st == "converged":
        what = f"converged at epoch {sw.converged_epoch[i]} (L <= rtol x L0)"
    elif st == "diverged":
        what = f"diverged at epoch {sw.diverged_epoch[i]} (loss above {sw.divergence_factor:.3g} x L0 or not finite)"
    else:
        what = f"neither converged nor diverged within the horizon of {sw.horizon} epochs"
    text = f"lr = {lr:.4g} = {lr / lr_crit:.3g} x 2/lambda_0, plain gradient descent: {where}; {what}."
    ok = np.isfinite(losses)
    if st != "diverged" and ok.any():
        peak = int(np.nanargmax(losses))
        last = int(np.flatnonzero(ok)[-1])
        text += (f" Loss: {losses[last] / L0:.3g} x L0 at epoch {last}, "
                 f"highest {losses[peak] / L0:.3g} x L0 at epoch {peak}.")
        vals = sw.sharpness[1][i]
        fin = np.isfinite(vals)
        if fin.sum() >= 2:
            late = vals[fin][-max(1, fin.sum() // 4):]  # the last quarter of the measurements
            ratio = float(np.median(late)) * lr / 2
            word = ("at 2/lr: the edge of stability" if 0.9 <= ratio <= 1.1
                    else "below 2/lr" if ratio < 0.9 else "above 2/lr")
            text += (f" Sharpness over the last quarter (median of {late.size} measurements, every "
                     f"{every} epochs): {np.median(late):.3g} = {ratio:.2f} x 2/lr, {word}.")
    return text


def _legend_below(p, items):
    """A legend under the plot, where it hides no data; the plot grows to keep its drawing area."""
    p.add_layout(Legend(items=items, orientation="horizontal", nrows=2, label_text_font_size="10px",
                        padding=2, spacing=8, margin=2), "below")
    p.height = _FIG_H + 50


def build_model(D) -> str:
    """The non-linear model's page: loss, sharpness against 2/lr, and the lr against lambda_0's bracket."""
    from bokeh.models import LogAxis, LogScale

    sw, lrs, E = D.sweep, D.lrs, D.epochs
    K, E1 = lrs.size, E + 1
    curv = sw.stability
    lam0, lr_crit = float(curv.lambda_max), float(curv.lr_crit)
    i0 = int(np.argmin(np.abs(np.log(lrs / (lr_crit / 2)))))  # start at 1/lambda_0
    div = np.array([st == "diverged" for st in sw.status])
    f32 = np.float32

    # --- the loss, L* = 0: clipped into a fixed log range (a diverged run leaves it at the top)
    losses = np.asarray(sw.losses, dtype=np.float64)
    L0 = float(losses[0, 0])
    pos = losses[np.isfinite(losses) & (losses > 0)]
    floor = min(float(pos.min()) if pos.size else L0, D.rtol * L0) / 2  # the convergence level shows
    floor = max(floor, L0 * 1e-12, 1e-300)
    kept = losses[~div]
    top = max(2 * L0, float(np.nanmax(kept)) * 1.5 if kept.size and np.isfinite(kept).any() else 0.0)
    shown = np.where(np.isnan(losses), np.nan, np.clip(np.nan_to_num(losses, posinf=top * 10), floor, top * 10))

    # --- the sharpness: every `every` epochs, nan once a run stopped
    s_ep, s_val = sw.sharpness
    s_ep = np.asarray(s_ep, dtype=np.float64)
    s_val = np.asarray(s_val, dtype=np.float64)
    T = s_ep.size
    edges = 2.0 / lrs
    fin = s_val[~div][np.isfinite(s_val[~div]) & (s_val[~div] > 0)]
    s_lo = min(float(edges.min()), lam0, float(fin.min()) if fin.size else lam0) / 1.3
    s_hi = max(float(edges.max()), lam0, float(fin.max()) if fin.size else lam0) * 1.3
    s_shown = np.where(np.isnan(s_val), np.nan, np.clip(s_val, s_lo / 10, s_hi * 10))

    store = ColumnDataSource({"loss": shown.astype(f32).ravel()}, name="gdcore-store")
    sstore = ColumnDataSource({"value": s_shown.astype(f32).ravel()}, name="gdcore-sharpness-store")
    loss_src = ColumnDataSource({"epoch": np.arange(E1, dtype=f32), "loss": shown[i0].astype(f32)},
                                name="gdcore-loss")
    sharp_src = ColumnDataSource({"epoch": s_ep.astype(f32), "value": s_shown[i0].astype(f32)},
                                 name="gdcore-sharpness")
    edge_src = ColumnDataSource({"x": [0.0, float(E)], "y": [float(edges[i0])] * 2}, name="gdcore-edge")

    tools = "pan,wheel_zoom,reset,save"
    # --- 1. the loss per epoch
    p_loss = figure(width=_FIG_W, height=_FIG_H, y_axis_type="log", title="Loss L per epoch (L* taken as 0)",
                    x_range=Range1d(0, E), y_range=Range1d(floor, top), tools=tools)
    p_loss.xaxis.axis_label, p_loss.yaxis.axis_label = "epoch", "loss L (MSE)"
    r_l = p_loss.line("epoch", "loss", source=loss_src, line_width=1.5, color=_PALETTE[0])
    r_0 = p_loss.line([0, E], [L0, L0], color="grey", line_dash="dashed")
    r_t = p_loss.line([0, E], [D.rtol * L0] * 2, color="grey", line_dash="dotted")
    _legend_below(p_loss, [LegendItem(label="measured", renderers=[r_l]),
                           LegendItem(label="L0", renderers=[r_0]),
                           LegendItem(label="converged level rtol x L0", renderers=[r_t])])

    # --- 2. the sharpness per epoch against the chosen lr's 2/lr
    p_sharp = figure(width=_FIG_W, height=_FIG_H, y_axis_type="log", tools=tools,
                     title="Sharpness (top Hessian eigenvalue) per epoch against 2/lr",
                     x_range=Range1d(0, E), y_range=Range1d(s_lo, s_hi))
    p_sharp.xaxis.axis_label, p_sharp.yaxis.axis_label = "epoch", "sharpness lambda"
    r_s = p_sharp.line("epoch", "value", source=sharp_src, line_width=2, color=_PALETTE[1])
    p_sharp.scatter("epoch", "value", source=sharp_src, size=4, color=_PALETTE[1])
    r_e = p_sharp.line("x", "y", source=edge_src, line_width=2, color="black", line_dash="dashed")
    r_z = p_sharp.line([0, E], [lam0, lam0], color="grey", line_dash="dotted", line_width=1.5)
    edge_texts = [f"2/lr = {v:.3g}" for v in edges]
    edge_label = Label(x=E, y=float(edges[i0]), text=edge_texts[i0], text_align="right", y_offset=4,
                       x_offset=-4, text_font_size="11px", name="gdcore-edge-label")
    p_sharp.add_layout(edge_label)
    _legend_below(p_sharp, [
        LegendItem(label=f"measured (Lanczos, every {D.every} epochs)", renderers=[r_s]),
        LegendItem(label="2/lr: the edge for the chosen lr", renderers=[r_e]),
        LegendItem(label=f"lambda_0 = {lam0:.3g} (at w0)", renderers=[r_z])])

    # --- 3. where the lr sits against lambda_0's bracket, with every run's measured label
    lo, hi = float(lrs[0]) / 1.15, float(lrs[-1]) * 1.15
    finals = np.asarray(sw.final_loss, dtype=np.float64) / L0
    good = finals[~div & np.isfinite(finals) & (finals > 0)]
    f_lo = float(good.min()) / 3 if good.size else 1e-3
    f_hi = max(float(good.max()) * 3 if good.size else 3.0, 3.0)
    y_div = f_hi / 1.8  # diverged runs: drawn near the top
    ys = np.where(div | ~np.isfinite(finals) | (finals <= 0), y_div, finals)
    p_where = figure(width=980, height=_FIG_H, x_axis_type="log", y_axis_type="log", tools=tools,
                     title="Where the lr sits: lambda_0's bracket and every run's measured outcome",
                     x_range=Range1d(lo, hi), y_range=Range1d(f_lo, f_hi))
    p_where.xaxis.axis_label = "learning rate lr"
    p_where.xaxis.ticker.desired_num_ticks = 10
    p_where.yaxis.axis_label = f"final loss / L0 (epoch {E})"
    p_where.extra_x_ranges = {"units": Range1d(lo / lr_crit, hi / lr_crit)}
    p_where.extra_x_scales = {"units": LogScale()}
    p_where.add_layout(LogAxis(x_range_name="units", axis_label="lr in units of 2/lambda_0"), "above")
    for left, right, colr, name in ((None, lr_crit, "#2ca02c", "below the edge"),
                                     (lr_crit, 2 * lr_crit, "#ff7f0e", "catapult bracket"),
                                     (2 * lr_crit, None, "#d62728", "> 4/lambda_0")):
        if (right is not None and right <= lo) or (left is not None and left >= hi):
            continue
        p_where.add_layout(BoxAnnotation(left=left, right=right, fill_color=colr, fill_alpha=0.10))
        xpos = np.sqrt(max(left or lo, lo) * min(right or hi, hi))
        p_where.add_layout(Label(x=xpos, y=f_lo, y_offset=4, text=name, text_align="center",
                                 text_font_size="11px", text_color=colr))
    items = []
    for regime, colr in _REGIME_COLOR.items():
        idx = [i for i in range(K) if sw.regime[i] == regime]
        if idx:
            r = p_where.scatter(lrs[idx], ys[idx], size=9, color=colr, line_width=2,
                                marker="x" if regime == "divergent" else "circle")
            items.append(LegendItem(label=regime, renderers=[r]))
    here_src = ColumnDataSource({"x": [float(lrs[i0])], "y": [float(ys[i0])]}, name="gdcore-here")
    r = p_where.scatter("x", "y", source=here_src, size=18, fill_color=None, line_color="black", line_width=3)
    items.append(LegendItem(label="the chosen run", renderers=[r]))
    r = p_where.multi_line([[lr_crit] * 2, [2 * lr_crit] * 2], [[f_lo, f_hi]] * 2, line_color="#555555",
                           line_width=1.5)
    items.append(LegendItem(label=f"2/lambda_0 = {lr_crit:.3g}, 4/lambda_0 = {2 * lr_crit:.3g}", renderers=[r]))
    onset = sw.divergence_onset
    if onset is not None:
        r = p_where.line([onset, onset], [f_lo, f_hi], line_color="#d62728", line_dash="dashed", line_width=2)
        items.append(LegendItem(label=f"measured onset {onset / lr_crit:.3g} x 2/lambda_0", renderers=[r]))
    p_where.add_layout(Legend(items=items, label_text_font_size="10px", spacing=2), "right")

    # --- the slider (its positions also in units of 2/lambda_0), the status line, the callback
    texts = [_model_status_text(sw, i, lr_crit, D.every) for i in range(K)]
    status = Div(text=texts[i0], render_as_text=True, width=980, name="gdcore-status",
                 styles={"font-size": "14px", "padding": "4px 0"})
    units = [float(v) for v in lrs / lr_crit]
    lr_fmt = CustomJSTickFormatter(
        args={"v": [float(x) for x in lrs], "u": units},
        code="const i = Math.round(tick); return v[i].toPrecision(3) + ' = ' + u[i].toPrecision(2) + ' x 2/lambda_0';")
    lr_slider = Slider(start=0, end=max(K - 1, 1), step=1, value=i0, title="learning rate lr", format=lr_fmt,
                       width=600, name="gdcore-lr-slider", show_value=True, disabled=K == 1)
    cb = CustomJS(args=dict(lr=lr_slider, store=store, sstore=sstore, loss=loss_src, sharp=sharp_src,
                            edge=edge_src, edge_label=edge_label, edge_texts=edge_texts, here=here_src,
                            status=status, texts=texts, n_epochs=E, n_snap=T,
                            edges=[float(v) for v in edges], lrs=[float(x) for x in lrs],
                            finals=[float(v) for v in ys]),
                  code=_SWITCH_MODEL)
    lr_slider.js_on_change("value", cb)

    # --- header (escaped: names, the file name and the model's name come from the user) and the guide
    e = html.escape
    src, tn = D.source, D.target_name
    std = " (standardized)" if D.standardize else ""
    onset_txt = (f"{onset:.4g} = {onset / lr_crit:.3g} x 2/lambda_0" if onset is not None
                 else "none within the horizon")
    head = (f"<h1 style='font-size:22px;margin:4px 0'>{e(D.title)}</h1>"
            f"<p style='margin:2px 0'>data: {e(str(src)) if src else 'arrays'}, {D.n} rows; "
            f"target {e(str(tn)) if tn else 'y'}; features {e(', '.join(D.feature_names))}{std}. "
            f"Model {e(sw.model)}: sharpness at w0 lambda_0 = {lam0:.4g}, edge 2/lambda_0 = {lr_crit:.4g}, "
            f"bracket (2/lambda_0, 4/lambda_0) = ({lr_crit:.3g}, {2 * lr_crit:.3g}); measured divergence "
            f"onset: {onset_txt}. {K} learning rates, {E} epochs (the horizon), sharpness every "
            f"{D.every} epochs (Lanczos, {curv.hvps} Hessian-vector products), backend {e(sw.backend)}: "
            "every curve below is a real gdcore run; nothing is predicted.</p>"
            "<p style='margin:2px 0'>Move the slider with the mouse, or focus it (Tab) and use the arrow "
            "keys (Page Up / Page Down for bigger steps).</p>")
    header = Div(text=head, width=980, name="gdcore-header")
    guide = Div(width=980, text=_GUIDE_MODEL, name="gdcore-guide", styles={"font-size": "13px"})
    layout = column(header, lr_slider, status, row(p_loss, p_sharp), p_where, guide)

    doc = Document()
    doc.add_root(layout)
    labels = [[f"{v:.3g} = {u:.2g} x 2/lambda_0" for v, u in zip(lrs, units)]]
    doc.js_on_event(DocumentReady, CustomJS(args=dict(sliders=[lr_slider], names=["learning rate lr"],
                                                      values=[[float(x) for x in lrs]], labels=labels),
                                            code=_READY))
    return file_html(doc, INLINE, title=D.title)


_GUIDE_MODEL = """
<h2 style='font-size:16px;margin:4px 0'>What each view shows</h2>
<ul style='padding-left:18px;margin:0'>
<li><b>Loss</b>: the MSE per epoch on a log scale. The optimum is unknown, so L* is taken as 0;
dotted: the convergence level rtol x L0.</li>
<li><b>Sharpness</b>: the top eigenvalue of the Hessian, measured by Lanczos on Hessian-vector
products. Dashed: 2/lr, where gradient descent stops being stable on a quadratic of that curvature.
Below 2/lambda_0 the sharpness typically rises until it reaches 2/lr and then hovers there while the
loss keeps falling, not monotonically: the edge of stability (Cohen et al. 2021).</li>
<li><b>Where the lr sits</b>: every run's final loss against its lr, coloured by its measured label
(below-edge, above-edge, divergent), with lambda_0's bracket (2/lambda_0, 4/lambda_0): above
2/lambda_0 a run may survive a loss spike that lowers the sharpness (the catapult of Lewkowycz et al.
2020), up to about 4/lambda_0 for wide networks. Dashed red: the smallest lr that diverged.</li>
</ul>
<p style='margin:4px 0'><b>Left out for a non-linear model</b>: the closed-form predictions, the path on
the loss contours, the error along the Hessian's eigen-directions and the (lr, beta) momentum map.
Each needs the fixed Hessian of a linear model; here the Hessian moves with the weights, so everything
on this page is measured.</p>
"""
