// featviz atlas: arrow keys step through units; the box jumps to layer:index.
"use strict";
document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea") || event.altKey || event.ctrlKey || event.metaKey) return;
  const rel = { ArrowRight: "next", ArrowLeft: "prev" }[event.key];
  const link = rel && document.querySelector(`a[rel="${rel}"]`);
  if (link) window.location.href = link.href;
});
const jump = document.getElementById("jump");
if (jump) {
  jump.addEventListener("submit", (event) => {
    event.preventDefault();
    const units = JSON.parse(jump.dataset.units);
    const asked = jump.elements.unit.value.trim();
    const match = /^([^:\s]+)\s*:\s*#?(\d+)$/.exec(asked);
    const error = jump.querySelector(".jump-error");
    if (match && (units[match[1]] || []).includes(Number(match[2]))) {
      window.location.href = `${jump.dataset.root}${match[1]}/${Number(match[2])}.html`;
    } else if (match && units[match[1]]) {
      error.textContent = `${match[1]} has no unit ${match[2]} rendered.`;
    } else {
      error.textContent = `Give layer:index, one of the layers ${Object.keys(units).join(", ")}.`;
    }
  });
}
