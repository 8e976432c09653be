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
const K = lr.end + 1, E1 = n_epochs + 1;
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
    el.setAttribute('aria-valuetext', names[k] + ' ' + values[k][v].toPrecision(3));
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
    lrs, betas, stab = D["lrs"], D["betas"], D["stab"]
    K, J, E, d = lrs.size, betas.size, D["epochs"], D["d"]
    E1 = E + 1
    sel, lam_sel = D["sel"], D["lam"][D["sel"]]
    lr_opt, lr_crit, lam_max = stab.lr_opt, stab.lr_crit, stab.lambda_max
    # start at lr_opt, plain gradient descent
    i0 = int(np.argmin(np.abs(np.log(lrs / lr_opt))))
    r0 = i0

    gap0 = float(D["pred"][0, 0])
    floor = max(gap0 * 1e-16, 1e-300) if gap0 > 0 else 1e-16
    cap = max(gap0, floor) * 1e6
    meas = _clip_gap(D["meas"], floor, cap)
    pred = _clip_gap(D["pred"], floor, cap)

    # --- where the iterates go: the weights for 2 columns, else the top two eigen-directions
    hist, w_star = D["hist"], D["w_star"]
    names = D["feature_names"]
    if d == 2:
        px, py = hist[:, :, 0], hist[:, :, 1]
        xlab, ylab = f"w[0] ({names[0]})", f"w[1] ({names[1]})"
    elif d >= 3:
        full = D["comps"]  # selected, descending lambda: 0 is the top direction
        px, py = full[:, :, 1], full[:, :, 0]
        xlab = f"eigen-direction 2 (lambda = {lam_sel[1]:.3g})"
        ylab = f"eigen-direction 1 (lambda = {lam_sel[0]:.3g})"
    else:
        px, py = hist[:, :, 0], meas.copy()
        xlab, ylab = f"w[0] ({names[0]})", "loss gap L - L*"
    if D["standardize"] and d <= 2:
        xlab, ylab = xlab + ", standardized", ylab + ("" if d == 1 else ", standardized")

    comp_abs = np.clip(np.abs(D["comps"]), 1e-300, None)
    comp_pred = np.clip(np.abs(D["comp_pred"]), 1e-300, None)
    c_top = max(float(np.max(np.abs(D["c0"][sel]))), 1e-300)
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
    level = Span(location=D["rtol"] * gap0 if gap0 > 0 else floor, dimension="width",
                 line_dash="dotted", line_color="grey")
    p_loss.add_layout(level)
    p_loss.add_layout(Legend(items=[LegendItem(label="measured", renderers=[r_m]),
                                    LegendItem(label="predicted (closed form)", renderers=[r_p])],
                             location="bottom_left"))

    # --- 2. path of the iterates on the loss contours
    stable = np.isfinite(px) & np.isfinite(py)
    # the box: every point of the plain runs that converged (momentum may swing further)
    runs_ok = np.array([r < K and D["status"][0][r][0] == "converged" for r in range(J * K)])
    if not runs_ok.any():
        runs_ok = np.array([D["status"][r // K][r % K][0] != "diverged" for r in range(J * K)])
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
            G = D["stab"]._quad.G
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
    from gdcore._explore import contraction

    def rho_of(lr_values, beta):
        return np.max(contraction(lam_pos, lr_values, np.full(np.shape(lr_values), beta)), axis=-1)

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
            st, conv, _div, _pred = D["status"][j][i]
            cells["left"].append(left[i]); cells["right"].append(right[i])
            cells["bottom"].append(bot[j]); cells["top"].append(top[j])
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
            regime = stab.regime(lrs[i]) if j == 0 else D["mom"].regime[i * (J - 1) + (j - 1)]
            texts.append(_status_text(D["status"][j][i], float(lrs[i]), float(betas[j]), lr_opt, regime,
                                      D["factors"][r], lam_sel))
    status = Div(text=texts[r0], render_as_text=True, width=980, name="gdcore-status",
                 styles={"font-size": "14px", "padding": "4px 0"})

    lr_fmt = CustomJSTickFormatter(args={"v": [float(x) for x in lrs]}, code="return v[Math.round(tick)].toPrecision(3);")
    lr_slider = Slider(start=0, end=K - 1, step=1, value=i0, title="learning rate lr", format=lr_fmt,
                       width=470, name="gdcore-lr-slider", show_value=True)
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
                            spot=spot_src, status=status, texts=texts, n_epochs=E,
                            lrs=[float(x) for x in lrs], betas=[float(b) for b in betas],
                            rho=rho_pts, rho_fine=rho_fine),
                  code=_SWITCH)
    for s in sliders:
        s.js_on_change("value", cb)

    # --- header (escaped: names and the file name come from the data) and the guide
    e = html.escape
    src = D["source"]
    feats = ", ".join(names)
    std = " (standardized)" if D["standardize"] else ""
    head = (f"<h1 style='font-size:22px;margin:4px 0'>{e(D['title'])}</h1>"
            f"<p style='margin:2px 0'>data: {e(str(src)) if src else 'arrays'}, {D['n']} rows; "
            f"target {e(str(D['target_name'])) if D['target_name'] else 'y'}; "
            f"features {e(feats)}{std}. "
            f"Hessian H = (2/n) X<sup>T</sup>X: lambda_max = {lam_max:.4g}, "
            f"lambda_min = {stab.lambda_min:.4g}; lr_crit = {lr_crit:.4g}, lr_opt = {lr_opt:.4g}. "
            f"{K} learning rates x {J} momentums, {E} epochs, backend {e(D['backend'])}: "
            "every curve below is a real gdcore run, the dashed ones its closed-form prediction.</p>"
            "<p style='margin:2px 0'>Move the sliders with the mouse, or focus one (Tab) and use the arrow "
            "keys (Page Up / Page Down for bigger steps).</p>")
    header = Div(text=head, width=980, name="gdcore-header")
    guide = Div(width=_FIG_W, text=_GUIDE, name="gdcore-guide", styles={"font-size": "13px"})
    grid = [row(p_loss, p_path), row(p_comp, p_reg), row(p_map if p_map is not None else Div(), guide)]
    layout = column(header, row(*sliders), status, *grid)

    doc = Document()
    doc.add_root(layout)
    doc.js_on_event(DocumentReady, CustomJS(args=dict(sliders=sliders, names=names_, values=values),
                                            code=_READY))
    return file_html(doc, INLINE, title=D["title"])


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
