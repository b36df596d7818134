// A plain <textarea> code editor with line numbers and marks: a backdrop behind the
// transparent textarea draws, line by line, the same text (invisible), the marked ranges
// (underlined), a tinted background on marked lines and, after the text of a marked line, the
// message ("error lens"). The textarea stays the only thing that takes input, so every
// keyboard, clipboard and assistive-technology behaviour is the browser's own.

export class Editor {
  constructor(root, textarea) {
    this.root = root;
    this.ta = textarea;
    this.gutter = root.querySelector(".gutter-inner");
    this.back = root.querySelector(".backdrop-inner");
    this.marks = [];
    this.ta.addEventListener("scroll", () => this.syncScroll());
    this.ta.addEventListener("input", () => this.render());
    this.ta.addEventListener("keydown", (e) => this.keydown(e));
    this.render();
  }

  get value() {
    return this.ta.value;
  }

  set value(text) {
    this.ta.value = text;
    this.ta.scrollTop = 0;
    this.ta.scrollLeft = 0;
    this.render();
  }

  /** marks: [{ start, end, level: "error"|"warning"|"info", message }] */
  setMarks(marks) {
    this.marks = marks;
    this.render();
  }

  /** Puts the cursor at `offset`, scrolls it into view and focuses the editor. */
  reveal(offset, end = offset) {
    this.ta.focus();
    this.ta.setSelectionRange(offset, end);
    const line = this.ta.value.slice(0, offset).split("\n").length - 1;
    const lh = this.lineHeight();
    const top = line * lh;
    if (top < this.ta.scrollTop || top > this.ta.scrollTop + this.ta.clientHeight - 2 * lh) {
      this.ta.scrollTop = Math.max(0, top - 3 * lh);
    }
    const col = offset - (this.ta.value.lastIndexOf("\n", offset - 1) + 1);
    const x = col * this.charWidth();
    if (x < this.ta.scrollLeft || x > this.ta.scrollLeft + this.ta.clientWidth - 40) {
      this.ta.scrollLeft = Math.max(0, x - 40);
    }
    this.syncScroll();
  }

  lineHeight() {
    return parseFloat(getComputedStyle(this.ta).lineHeight) || 20;
  }

  charWidth() {
    if (!this._cw) {
      const probe = document.createElement("span");
      probe.textContent = "0".repeat(100);
      probe.style.cssText = "position:absolute;visibility:hidden;white-space:pre;font:inherit";
      this.back.appendChild(probe);
      this._cw = probe.getBoundingClientRect().width / 100 || 8;
      probe.remove();
    }
    return this._cw;
  }

  syncScroll() {
    const { scrollTop, scrollLeft } = this.ta;
    this.back.style.transform = `translate(${-scrollLeft}px, ${-scrollTop}px)`;
    this.gutter.style.transform = `translateY(${-scrollTop}px)`;
  }

  keydown(e) {
    // Tab indents (two spaces) instead of leaving the editor; Escape then Tab leaves it, so the
    // editor is never a keyboard trap.
    if (e.key === "Escape") {
      this.escaped = true;
      return;
    }
    if (e.key === "Tab" && !e.shiftKey && !this.escaped && !e.ctrlKey && !e.altKey && !e.metaKey) {
      e.preventDefault();
      document.execCommand("insertText", false, "  ");
    }
    if (e.key !== "Tab") this.escaped = false;
  }

  render() {
    const text = this.ta.value;
    const lines = text.split("\n");
    // Line starts, to cut marks into per-line pieces.
    const starts = [];
    let pos = 0;
    for (const l of lines) {
      starts.push(pos);
      pos += l.length + 1;
    }
    const perLine = new Map();
    for (const m of this.marks) {
      let li = lineIndex(starts, m.start);
      const last = lineIndex(starts, Math.max(m.start, m.end - 1));
      for (; li <= last; li++) {
        const ls = starts[li];
        const le = ls + lines[li].length;
        const s = Math.max(m.start, ls) - ls;
        const e = Math.min(Math.max(m.end, m.start + 1), le) - ls;
        if (!perLine.has(li)) perLine.set(li, []);
        perLine.get(li).push({ s, e, level: m.level, message: li === lineIndex(starts, m.start) ? m.message : "" });
      }
    }
    const frag = document.createDocumentFragment();
    const gfrag = document.createDocumentFragment();
    lines.forEach((line, i) => {
      const row = document.createElement("div");
      row.className = "ln";
      const g = document.createElement("div");
      g.className = "gl";
      g.textContent = String(i + 1);
      const pieces = perLine.get(i);
      if (pieces) {
        const level = worst(pieces.map((p) => p.level));
        row.classList.add(level);
        g.classList.add(level);
        g.dataset.line = String(i + 1);
        pieces.sort((a, b) => a.s - b.s);
        let at = 0;
        for (const p of pieces) {
          const s = Math.max(p.s, at);
          if (s > at) row.appendChild(document.createTextNode(line.slice(at, s)));
          const mark = document.createElement("mark");
          mark.className = p.level;
          // An empty range still shows: one column wide.
          mark.textContent = line.slice(s, Math.max(p.e, s)) || " ";
          row.appendChild(mark);
          at = Math.max(p.e, s);
        }
        if (at < line.length) row.appendChild(document.createTextNode(line.slice(at)));
        const messages = pieces.map((p) => p.message).filter(Boolean);
        if (messages.length) g.title = messages.join("\n");
        if (messages.length) {
          const lens = document.createElement("span");
          lens.className = `lens ${level}`;
          lens.textContent = messages.join(" · ");
          row.appendChild(lens);
        }
      } else {
        row.textContent = line || " ";
      }
      frag.appendChild(row);
      gfrag.appendChild(g);
    });
    this.back.replaceChildren(frag);
    this.gutter.replaceChildren(gfrag);
    this.syncScroll();
  }
}

function lineIndex(starts, offset) {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function worst(levels) {
  if (levels.includes("error")) return "error";
  if (levels.includes("warning")) return "warning";
  return "info";
}
