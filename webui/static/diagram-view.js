/* How riskflow shows a whole process diagram: fitted to its frame when it can be read that way; a
   long process (the offender management model is many screens wide) opens instead at a readable
   size at its start, to be dragged or scrolled along. Buttons above the frame zoom in, zoom out and
   fit the whole process; bpmn-js also zooms with Ctrl and the mouse wheel. The bpmn.io watermark
   is left as bpmn-js draws it. */
(function () {
  "use strict";

  const READABLE = 0.6; // below this, a step's name is too small to read

  function button(text, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "govuk-button govuk-button--secondary riskflow-zoom__button";
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  function readable(canvas) {
    canvas.zoom("fit-viewport");
    if (canvas.zoom() >= READABLE) { return; }
    const whole = canvas.viewbox().inner;
    const frame = canvas.viewbox().outer;
    canvas.zoom(READABLE);
    canvas.viewbox({ x: whole.x - 20, y: whole.y - 20, width: frame.width / READABLE, height: frame.height / READABLE });
  }

  function show(viewer, container) {
    const canvas = viewer.get("canvas");
    readable(canvas);
    const controls = document.createElement("div");
    controls.className = "govuk-button-group riskflow-zoom";
    controls.setAttribute("role", "group");
    controls.setAttribute("aria-label", "Diagram size");
    controls.appendChild(button("Zoom in", function () { canvas.zoom(canvas.zoom() * 1.25); }));
    controls.appendChild(button("Zoom out", function () { canvas.zoom(canvas.zoom() / 1.25); }));
    controls.appendChild(button("Fit the whole process", function () { canvas.zoom("fit-viewport"); }));
    controls.appendChild(button("Readable size", function () { readable(canvas); }));
    container.parentNode.insertBefore(controls, container);
  }

  window.riskflowDiagram = { show: show };
})();
