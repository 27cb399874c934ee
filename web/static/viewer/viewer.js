// The image viewer (docs/teleconsult.md): series with thumbnails, slices by wheel, keys or
// slider, zoom and pan, window presets and free window/level, the DICOM header summary.
// Frames are rendered by the PACS (WADO-RS rendered, with the window) and come through the
// platform's proxy (/api/v1/studies/...): the browser never talks to the PACS.
//
// Events (CustomEvent): "change" (detail = the view, after a change made here by the user),
// "opened" (detail = the study UID). `apply(view)` shows a view without emitting "change"
// (a follower following its leader).

import { fill, getJson } from "../lib/page.js";

export const PRESETS = {
  soft_tissue: [40, 400],
  lung: [-600, 1500],
  bone: [400, 1800],
  brain: [40, 80],
};
const MIN_ZOOM = 0.25;
const MAX_ZOOM = 16;
const WINDOW_DELAY_MS = 120;

const $ = (id) => document.getElementById(id);

function frameUrl(study, series, sop, center, width) {
  const base = `/api/v1/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}`
    + `/instances/${encodeURIComponent(sop)}`;
  const window = center === null ? "" : `?center=${Math.round(center)}&width=${Math.max(1, Math.round(width))}`;
  return `${base}/frames/1/rendered${window}`;
}

export class Viewer extends EventTarget {
  constructor(root, strings) {
    super();
    this.root = root;
    this.t = strings;
    this.stage = $("viewer-stage");
    this.image = $("viewer-image");
    this.slider = $("viewer-slider");
    this.study = null;
    this.series = [];
    this.current = null; // the series shown
    this.slice = 0;
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.center = 40;
    this.width = 400;
    this.loadToken = 0;
    this.windowTimer = null;
    this.#wire();
  }

  status(text) {
    $("viewer-status").textContent = text || "";
  }

  /** The view as the signalling `view` message carries it. */
  state() {
    return {
      study_uid: this.study, series_uid: this.current?.series_instance_uid,
      slice: this.slice, zoom: this.zoom, pan_x: this.panX, pan_y: this.panY,
      center: this.center, width: this.width,
    };
  }

  /** Open a study: its series, the first one shown (false when images are unavailable). */
  async open(studyUid) {
    this.root.hidden = false;
    this.status(this.t.loading);
    let resp;
    try {
      resp = await getJson(`/api/v1/studies/${encodeURIComponent(studyUid)}`);
    } catch {
      resp = null;
    }
    const body = resp ? await resp.json().catch(() => ({})) : {};
    if (!resp || !resp.ok) {
      this.root.dataset.state = "unavailable";
      this.status(resp && resp.status !== 503 ? fill(this.t.failed, { message: body?.error?.message || resp.status })
        : this.t.images_unavailable);
      return false;
    }
    this.study = studyUid;
    this.series = body.series;
    this.root.dataset.study = studyUid;
    this.root.dataset.state = "open";
    this.#drawSeries();
    this.status("");
    if (this.series.length) this.showSeries(this.series[0].series_instance_uid, { emit: false });
    this.dispatchEvent(new CustomEvent("opened", { detail: studyUid }));
    return true;
  }

  #drawSeries() {
    const list = $("viewer-series");
    list.replaceChildren();
    for (const series of this.series) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "viewer__thumb";
      button.dataset.series = series.series_instance_uid;
      const middle = series.instances[Math.floor(series.instances.length / 2)];
      if (middle) {
        const thumb = document.createElement("img");
        thumb.alt = "";
        thumb.loading = "lazy";
        thumb.src = frameUrl(this.study, series.series_instance_uid, middle.sop_instance_uid, null, null);
        button.append(thumb);
      }
      const label = document.createElement("span");
      label.textContent = `${series.modality || ""} ${series.description || this.t.series} (${series.instances.length})`;
      button.append(label);
      button.addEventListener("click", () => this.showSeries(series.series_instance_uid, { emit: true }));
      item.append(button);
      list.append(item);
    }
  }

  showSeries(seriesUid, { emit = true, slice = null } = {}) {
    const series = this.series.find((s) => s.series_instance_uid === seriesUid);
    if (!series) return;
    const changed = this.current !== series;
    this.current = series;
    this.root.dataset.series = seriesUid;
    for (const button of this.root.querySelectorAll("[data-series]")) {
      button.setAttribute("aria-pressed", String(button.dataset.series === seriesUid));
    }
    this.slider.max = String(Math.max(0, series.instances.length - 1));
    if (changed && slice === null) {
      this.slice = Math.floor(series.instances.length / 2);
      this.zoom = 1; this.panX = 0; this.panY = 0;
      if (series.modality && series.modality !== "CT") this.#windowFromHeader();
    }
    if (slice !== null) this.slice = slice;
    this.#render(emit);
  }

  async #windowFromHeader() {
    const summary = await this.#summary();
    const center = Number(Array.isArray(summary?.window_center) ? summary.window_center[0] : summary?.window_center);
    const width = Number(Array.isArray(summary?.window_width) ? summary.window_width[0] : summary?.window_width);
    if (Number.isFinite(center) && Number.isFinite(width) && width >= 1) this.setWindow(center, width, true);
  }

  async #summary() {
    const instance = this.current?.instances[this.slice];
    if (!instance) return null;
    const url = `/api/v1/studies/${encodeURIComponent(this.study)}/series/`
      + `${encodeURIComponent(this.current.series_instance_uid)}/instances/${encodeURIComponent(instance.sop_instance_uid)}/summary`;
    const resp = await fetch(url, { credentials: "same-origin" }).catch(() => null);
    if (!resp || !resp.ok) return null;
    const summary = await resp.json();
    const list = $("viewer-header");
    list.replaceChildren();
    for (const [key, value] of Object.entries(summary)) {
      const dt = document.createElement("dt");
      dt.textContent = key.replaceAll("_", " ");
      const dd = document.createElement("dd");
      dd.textContent = Array.isArray(value) ? value.join(" \\ ") : String(value);
      list.append(dt, dd);
    }
    return summary;
  }

  setSlice(index, emit = true) {
    if (!this.current) return;
    const last = this.current.instances.length - 1;
    const next = Math.max(0, Math.min(last, index));
    if (next === this.slice) return;
    this.slice = next;
    this.#render(emit);
  }

  setZoom(zoom, emit = true) {
    this.zoom = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, zoom));
    this.#transform();
    if (emit) this.#changed();
  }

  setWindow(center, width, emit = true) {
    this.center = center;
    this.width = Math.max(1, width);
    $("viewer-center").value = String(Math.round(this.center));
    $("viewer-width").value = String(Math.round(this.width));
    clearTimeout(this.windowTimer);
    this.windowTimer = setTimeout(() => this.#render(false), WINDOW_DELAY_MS);
    if (emit) this.#changed();
  }

  /** Show `view` (from the leader) without telling anyone. */
  async apply(view) {
    if (view.study_uid !== this.study) {
      if (!(await this.open(view.study_uid))) return;
    }
    this.zoom = view.zoom;
    this.panX = view.pan_x;
    this.panY = view.pan_y;
    this.center = view.center;
    this.width = view.width;
    $("viewer-center").value = String(Math.round(this.center));
    $("viewer-width").value = String(Math.round(this.width));
    this.showSeries(view.series_uid, { emit: false, slice: view.slice });
  }

  #changed() {
    this.dispatchEvent(new CustomEvent("change", { detail: this.state() }));
  }

  #transform() {
    this.image.style.transform = `translate(${this.panX}px, ${this.panY}px) scale(${this.zoom})`;
    this.root.dataset.zoom = String(this.zoom);
  }

  #render(emit) {
    if (!this.current) return;
    const total = this.current.instances.length;
    const instance = this.current.instances[this.slice];
    this.slider.value = String(this.slice);
    this.root.dataset.slice = String(this.slice);
    $("viewer-slice").textContent = fill(this.t.slice, { n: this.slice + 1, total });
    this.#transform();
    const token = ++this.loadToken;
    const url = frameUrl(this.study, this.current.series_instance_uid, instance.sop_instance_uid, this.center, this.width);
    const next = new Image();
    next.onload = () => {
      if (token !== this.loadToken) return;
      this.image.src = url;
      this.root.dataset.loadedSlice = String(this.slice);
      this.status("");
    };
    next.onerror = () => {
      if (token === this.loadToken) this.status(this.t.images_unavailable);
    };
    next.src = url;
    for (const near of [this.slice - 1, this.slice + 1]) { // warm the neighbours
      const other = this.current.instances[near];
      if (other) new Image().src = frameUrl(this.study, this.current.series_instance_uid, other.sop_instance_uid, this.center, this.width);
    }
    clearTimeout(this.summaryTimer);
    this.summaryTimer = setTimeout(() => this.#summary(), 300);
    if (emit) this.#changed();
  }

  #wire() {
    this.stage.addEventListener("wheel", (event) => {
      event.preventDefault();
      if (event.ctrlKey) this.setZoom(this.zoom * (event.deltaY < 0 ? 1.1 : 1 / 1.1));
      else this.setSlice(this.slice + (event.deltaY > 0 ? 1 : -1));
    }, { passive: false });
    this.stage.addEventListener("keydown", (event) => {
      const steps = { ArrowDown: 1, ArrowRight: 1, PageDown: 5, ArrowUp: -1, ArrowLeft: -1, PageUp: -5 };
      if (event.key in steps) {
        event.preventDefault();
        this.setSlice(this.slice + steps[event.key]);
      } else if (event.key === "Home") {
        this.setSlice(0);
      } else if (event.key === "End") {
        this.setSlice(Number.MAX_SAFE_INTEGER);
      } else if (event.key === "+" || event.key === "=") {
        this.setZoom(this.zoom * 1.25);
      } else if (event.key === "-") {
        this.setZoom(this.zoom / 1.25);
      } else if (event.key === "0") {
        this.panX = 0; this.panY = 0; this.setZoom(1);
      }
    });
    let drag = null;
    this.stage.addEventListener("pointerdown", (event) => {
      drag = { x: event.clientX, y: event.clientY, window: event.shiftKey || event.button === 2,
        panX: this.panX, panY: this.panY, center: this.center, width: this.width };
      this.stage.setPointerCapture(event.pointerId);
    });
    this.stage.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (drag.window) {
        this.setWindow(drag.center + dy * 2, drag.width + dx * 4);
      } else {
        this.panX = drag.panX + dx;
        this.panY = drag.panY + dy;
        this.#transform();
        this.#changed();
      }
    });
    const stop = () => { drag = null; };
    this.stage.addEventListener("pointerup", stop);
    this.stage.addEventListener("pointercancel", stop);
    this.stage.addEventListener("contextmenu", (event) => event.preventDefault());
    this.slider.addEventListener("input", () => this.setSlice(Number(this.slider.value)));
    for (const button of this.root.querySelectorAll("[data-zoom]")) {
      button.addEventListener("click", () => {
        const how = button.dataset.zoom;
        if (how === "reset") { this.panX = 0; this.panY = 0; this.setZoom(1); }
        else this.setZoom(this.zoom * (how === "in" ? 1.25 : 0.8));
      });
    }
    const presets = $("viewer-presets");
    for (const [name, [center, width]] of Object.entries(PRESETS)) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button button--quiet";
      button.dataset.preset = name;
      button.textContent = this.t[name] || name;
      button.addEventListener("click", () => this.setWindow(center, width));
      presets.append(button);
    }
    const typed = () => {
      const center = Number($("viewer-center").value);
      const width = Number($("viewer-width").value);
      if (Number.isFinite(center) && Number.isFinite(width) && width >= 1) this.setWindow(center, width);
    };
    $("viewer-center").addEventListener("change", typed);
    $("viewer-width").addEventListener("change", typed);
    $("viewer-center").value = String(this.center);
    $("viewer-width").value = String(this.width);
  }
}
