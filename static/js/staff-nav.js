// Staff nav: one menu open at a time, closed by Escape or a click elsewhere. Works without this too.
document.addEventListener("DOMContentLoaded", () => {
  const menus = [...document.querySelectorAll(".staff-nav details")];
  const closeAll = (except) => menus.forEach((m) => { if (m !== except) m.open = false; });
  menus.forEach((m) => m.addEventListener("toggle", () => { if (m.open) closeAll(m); }));
  document.addEventListener("click", (e) => { if (!e.target.closest(".staff-nav details")) closeAll(null); });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    const open = menus.find((m) => m.open);
    if (open) { open.open = false; open.querySelector("summary").focus(); }
  });
});
