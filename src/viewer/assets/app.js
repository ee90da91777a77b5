// trialrun local viewer: a single page over the JSON API, no framework, no external
// requests. Hash routes: #/ (runs), #/run/{id}?q=&status=&evaluator=&sort=&dir=&page=&size=
// (the run page's view state, so links keep it), #/grid/{id}?q=&differ=1&base=&page= (a
// grid search's combinations side by side), #/compare/{base}/{head} (an empty part
// means the default: head = latest run, base = the run before head).
// Every piece of data reaches the page as text (textContent / text nodes), never as HTML;
// a review field of content type html is shown in an iframe sandboxed without scripts.
"use strict";

(function () {
  const app = document.getElementById("app");
  let renderCount = 0; // a slow answer for a page the user already left is dropped

  // --- small helpers -------------------------------------------------------------

  // el("td", {class: "num", "data-hash": h}, "text", childNode, ...)
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  async function api(path) {
    return answer(path, await fetch(path, { headers: { Accept: "application/json" } }));
  }

  // An answer's JSON body, or its error message thrown.
  async function answer(path, response) {
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      throw new Error(`${path} answered HTTP ${response.status} without JSON`);
    }
    if (!response.ok) throw new Error(body && body.error ? body.error : `${path} answered HTTP ${response.status}`);
    return body;
  }

  // The viewer's one write: a reviewer's grade (JSON, to this server only).
  async function apiPost(path, payload) {
    return answer(path, await fetch(path, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    }));
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
    const text = search.toString();
    return text ? "?" + text : "";
  }

  const runHref = (id) => "#/run/" + encodeURIComponent(id);
  const gridHref = (id, state) => "#/grid/" + encodeURIComponent(id) + query({
    q: state.q, differ: state.differ ? "1" : "", base: state.base, page: state.page > 1 ? String(state.page) : "",
  });
  const compareHref = (base, head) => `#/compare/${encodeURIComponent(base || "")}/${encodeURIComponent(head || "")}`;
  const shortId = (id) => (id.length > 13 ? id.slice(0, 8) + "…" + id.slice(-4) : id);
  const shortHash = (hash) => (hash.length > 16 ? hash.slice(0, 12) + "…" : hash);
  // A case by its label (its own label/name, else its first short text fields) with the
  // hash beside it; the hash alone when it has no label. The full hash is in the title.
  const caseName = (hash, label) => (label && label !== hash
    ? [el("span", { class: "case-label" }, label), " ", el("span", { class: "mono muted case-hash" }, shortHash(hash))]
    : el("span", { class: "mono case-hash" }, shortHash(hash)));

  function fmtTime(unix) {
    if (unix === null || unix === undefined) return "—";
    const d = new Date(unix * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function fmtNumber(value, digits = 3) {
    if (value === null || value === undefined) return "—";
    return String(Number(value.toFixed(digits)));
  }

  function fmtRate(rate) {
    if (rate === null || rate === undefined) return "—";
    return `${fmtNumber(rate * 100, 1)}%`;
  }

  function fmtSeconds(value) {
    if (value === null || value === undefined) return "—";
    if (value < 0.001) return "< 1 ms";
    return value < 1 ? `${Math.round(value * 1000)} ms` : `${fmtNumber(value, 2)} s`;
  }

  function fmtJson(value) {
    if (value === null || value === undefined) return "—";
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  function fmtCompact(value) {
    if (value === null || value === undefined) return "—";
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function fmtThreshold(threshold) {
    if (!threshold) return "—";
    const symbols = { lt: "<", lte: "≤", gt: ">", gte: "≥" };
    const parts = Object.entries(threshold).map(([k, v]) => `${symbols[k] || k} ${v}`);
    return parts.length ? parts.join(", ") : "—";
  }

  function fmtGit(run) {
    const commit = run.git_commit ? run.git_commit.slice(0, 10) : "";
    return [commit, run.git_branch ? `(${run.git_branch})` : ""].filter(Boolean).join(" ") || "—";
  }

  function verdict(side) {
    if (!side) return el("span", { class: "muted" }, "—");
    return el("span", { class: `verdict ${side.verdict}`, "data-verdict": side.verdict }, side.verdict.replace("_", " "));
  }

  function sideCell(side, cls) {
    return el("td", { class: cls }, verdict(side), side ? " " + fmtNumber(side.score) : "");
  }

  function show(token, ...nodes) {
    if (token !== renderCount) return false;
    app.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
    return true;
  }

  function showError(token, error) {
    show(token, el("div", { class: "error-box", id: "error", role: "alert" }, error.message || String(error)),
      el("p", {}, el("a", { href: "#/" }, "Back to the runs")));
  }

  // --- #/ : the runs -------------------------------------------------------------

  async function showRuns(token) {
    const runs = await api("/api/runs");
    if (!runs.length) {
      show(token, el("h1", {}, "Runs"),
        el("p", { id: "no-runs", class: "muted" }, "The run store has no runs yet: run a suite, then reload this page."));
      return;
    }
    const picked = new Set();
    const compareButton = el("button", { id: "compare-button", type: "button", disabled: true }, "Compare the 2 picked runs");
    compareButton.addEventListener("click", () => {
      // runs are newest first: the later index is the older run, the base
      const [head, base] = runs.filter((r) => picked.has(r.id));
      location.hash = compareHref(base.id, head.id);
    });
    const rows = runs.map((run) => {
      const box = el("input", { type: "checkbox", class: "pick", "data-run-id": run.id, "aria-label": `pick run ${run.id}` });
      box.addEventListener("click", (event) => event.stopPropagation());
      box.addEventListener("change", () => {
        if (box.checked) picked.add(run.id);
        else picked.delete(run.id);
        compareButton.disabled = picked.size !== 2;
      });
      const row = el("tr", { class: "clickable run-row", "data-run-id": run.id, "data-suite": run.suite_id },
        el("td", {}, box),
        el("td", {}, run.suite_id),
        el("td", { class: "mono" }, el("a", { href: runHref(run.id), class: "run-link", title: run.id }, shortId(run.id))),
        el("td", { class: `status-${run.verdict}`, title: `status: ${run.status}` }, run.verdict),
        el("td", {}, fmtTime(run.started_at)),
        el("td", { class: "num" }, run.cases),
        el("td", { class: "num", "data-count": "pass-rate" }, fmtRate(run.pass_rate)),
        el("td", { class: "num", "data-count": "failed" }, run.failed_cases),
        el("td", { class: "num", "data-count": "errored" }, run.errored_cases),
        el("td", { class: "mono" }, run.grid ? fmtCompact(run.grid) : "—"),
        el("td", { class: "mono" }, fmtGit(run)));
      row.addEventListener("click", () => { location.hash = runHref(run.id); });
      return row;
    });
    show(token,
      el("h1", {}, "Runs"),
      el("div", { class: "toolbar" }, compareButton,
        el("span", { class: "muted" }, "Tick two runs to compare them case by case; click a run to open it.")),
      el("table", { id: "runs-table" },
        el("thead", {}, el("tr", {}, ["", "Suite", "Run", "Verdict", "Started", "Cases", "Passed", "Failed", "Errored", "Grid", "Git"]
          .map((h) => el("th", { class: ["Cases", "Passed", "Failed", "Errored"].includes(h) ? "num" : null }, h)))),
        el("tbody", {}, rows)));
  }

  // --- human review ---------------------------------------------------------------

  // A human grade as a badge: pass or fail, with its score.
  function gradeBadge(item) {
    if (!item || !item.grade) return el("span", { class: "muted", "data-grade": "" }, "ungraded");
    return el("span", { class: `grade ${item.grade}`, "data-grade": item.grade },
      item.grade, item.score === null || item.score === undefined ? "" : " " + fmtNumber(item.score));
  }

  // A link only for http(s) addresses; anything else (javascript:, data:) stays text.
  function safeLink(value) {
    try {
      const url = new URL(value);
      if (url.protocol === "http:" || url.protocol === "https:") {
        return el("a", { href: url.href, target: "_blank", rel: "noopener noreferrer", class: "review-link" }, value);
      }
    } catch (e) { /* not an absolute address */ }
    return el("span", { class: "review-text" }, value);
  }

  // One field by its content type. Markdown is shown as its source text; HTML in an
  // iframe whose sandbox allows nothing (no scripts, no same-origin, no forms).
  function reviewValue(field) {
    const value = field.value === null || field.value === undefined ? "" : String(field.value);
    const kind = field.contentType || "text";
    if (kind === "link") return safeLink(value);
    if (kind === "html") return el("iframe", { class: "review-html", sandbox: "", srcdoc: value, title: `${field.name} (HTML)` });
    return el("pre", { class: kind === "markdown" ? "review-markdown" : "review-text" }, value);
  }

  function reviewFields(title, fields) {
    if (!fields || !fields.length) return [];
    return [el("h4", {}, title), el("dl", { class: "review-fields" }, fields.map((f) => [
      el("dt", {}, String(f.name), f.contentType && f.contentType !== "text" ? el("span", { class: "muted" }, ` (${f.contentType})`) : ""),
      el("dd", { "data-field": String(f.name), "data-content-type": f.contentType || "text" }, reviewValue(f)),
    ]))];
  }

  // The case's review block: what a reviewer sees, and the grade form. `saved(review)`
  // is called with the run's queue once a grade is stored.
  function reviewBlock(runId, c, item, saved) {
    const fields = [...reviewFields("Input", item && item.input_fields), ...reviewFields("Output", item && item.output_fields)];
    const name = `grade-${c.index}`;
    const choice = (value) => el("label", {}, el("input", {
      type: "radio", name, value, class: `grade-${value}`, checked: Boolean(item && item.grade === value),
    }), " ", value);
    const score = el("input", { type: "number", min: "0", max: "1", step: "0.05", class: "grade-score", "aria-label": "score from 0 to 1",
      value: item && item.score !== null && item.score !== undefined ? String(item.score) : null });
    const note = el("textarea", { class: "grade-note", rows: "2", "aria-label": "note" });
    note.value = (item && item.note) || "";
    const status = el("span", { class: "grade-status muted", role: "status" });
    const save = el("button", { type: "button", class: "grade-save" }, "Save grade");
    save.addEventListener("click", async (event) => {
      event.stopPropagation();
      const picked = document.querySelector(`input[name="${name}"]:checked`);
      if (!picked) { status.textContent = "Pick pass or fail first."; return; }
      const payload = { grade: picked.value, score: score.value === "" ? null : Number(score.value), note: note.value || null };
      save.disabled = true;
      status.textContent = "Saving…";
      try {
        const review = await apiPost(`/api/runs/${encodeURIComponent(runId)}/review/${encodeURIComponent(c.hash)}`, payload);
        status.textContent = "Saved.";
        status.dataset.saved = "true";
        saved(review);
      } catch (error) {
        status.textContent = error.message || String(error);
        delete status.dataset.saved;
      } finally {
        save.disabled = false;
      }
    });
    return el("div", { class: "review", "data-hash": c.hash },
      el("h3", {}, "Human review"),
      fields.length ? fields : el("p", { class: "muted" }, "No review fields: the reviewer sees the test case and output above."),
      el("div", { class: "grade-form" }, el("span", {}, "Grade:"), choice("pass"), choice("fail"),
        el("label", {}, "score", score), el("label", { class: "note-label" }, "note", note), save, status));
  }

  function reviewSummary(review, cases) {
    const graded = review.items.filter((i) => i.grade).length;
    const jobs = review.jobs.map((j) => el("li", { class: "review-job" },
      el("strong", {}, j.name), ` for ${j.assignees.join(", ")}`, j.rubric_id ? ` · rubric ${j.rubric_id}` : "",
      el("span", { class: "muted" }, ` · ${fmtTime(j.created_at)}`)));
    return el("div", { id: "review-summary" },
      jobs.length ? el("ul", { id: "review-jobs" }, jobs) : el("p", { class: "muted" }, "No review job, but some cases are graded."),
      el("p", { id: "review-progress" }, `${graded} of ${cases} cases graded. Open a case to grade it.`));
  }

  // --- a voice call: timeline and recording ---------------------------------------------

  // A call's timeline comes drawn from the server (report/call_timeline.rs, the drawing the
  // HTML reports and notebooks show): lanes, utterances, response gaps, interruptions, key
  // presses, transfers, the hang-up. Here a recording is added: an <audio> whose playing
  // moves the timeline's cursor, and a click on the lanes plays from there.
  function callTimeline(call, drawn) {
    const svg = svgNode(drawn.timeline);
    if (!(svg instanceof SVGElement)) return el("div", { class: "call" }, el("h3", {}, "Call"), svg);
    const W = Number(svg.viewBox.baseVal.width) || 960;
    const LEFT = Number(svg.dataset.left), WIDTH = Number(svg.dataset.width);
    const duration = Number(svg.dataset.duration) || 0.001;
    const RIGHT = W - LEFT - WIDTH;
    const x = (t) => LEFT + (Math.max(0, Math.min(t, duration)) / duration) * WIDTH;
    const cursor = svg.querySelector(".cursor");

    const parts = [svg, el("p", { class: "muted call-metrics" }, drawn.metrics)];
    const name = call.recording_path ? String(call.recording_path).split(/[\\/]/).pop() : "";
    if (name) {
      const audio = el("audio", { controls: true, preload: "metadata", class: "call-audio", src: "/api/recordings/" + encodeURIComponent(name) });
      const note = el("p", { class: "muted recording-note" });
      audio.addEventListener("error", () => {
        note.textContent = `The recording ${name} is not in the run store's recordings folder.`;
      });
      let frame = null;
      const place = () => {
        const t = audio.currentTime || 0;
        cursor.setAttribute("x1", x(t));
        cursor.setAttribute("x2", x(t));
        cursor.dataset.time = String(t);
      };
      const follow = () => { place(); frame = audio.paused ? null : requestAnimationFrame(follow); };
      audio.addEventListener("play", () => { if (frame === null) frame = requestAnimationFrame(follow); });
      audio.addEventListener("timeupdate", place);
      audio.addEventListener("seeked", place);
      // a click on the lanes plays from there
      svg.addEventListener("click", (event) => {
        event.stopPropagation();
        const box = svg.getBoundingClientRect();
        const at = ((event.clientX - box.left) / box.width) * W;
        audio.currentTime = Math.max(0, ((at - LEFT) / (W - LEFT - RIGHT)) * duration);
        place();
      });
      parts.push(el("div", { class: "call-audio-row" }, audio, note));
    } else {
      parts.push(el("p", { class: "muted" }, "No recording of this call."));
    }
    return el("div", { class: "call", onclick: (event) => event.stopPropagation() }, el("h3", {}, "Call"), parts);
  }

  // --- #/run/{id} : one run --------------------------------------------------------

  function runFacts(run) {
    const facts = [
      ["Run", run.id], ["Suite", run.suite_id], ["Status", run.verdict === run.status ? run.status : `${run.verdict} (${run.status})`],
      ["Started", fmtTime(run.started_at)], ["Ended", fmtTime(run.ended_at)],
      ["Duration", run.ended_at ? fmtSeconds(run.ended_at - run.started_at) : "—"],
      ["Cases", `${run.cases} (${run.errored_cases} where fn raised)`],
      ["Grid", run.grid ? fmtCompact(run.grid) : "—"], ["Git", fmtGit(run)],
    ];
    if (run.stop_reason) facts.splice(3, 0, ["Stopped", run.stop_reason]);
    if (run.rescored_from) facts.push(["Re-scored", run.rescored_from]);
    return el("dl", { class: "facts" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", { "data-fact": k.toLowerCase() }, v)]));
  }

  // Per evaluator: its verdict counts and mean score, as the summary API counted them.
  function evaluatorSummary(evaluators) {
    const rows = evaluators.map((e) => el("tr", { "data-evaluator": e.id },
      el("td", {}, e.id),
      ["passed", "failed", "no_threshold", "errored"].map((v) => el("td", { class: "num", "data-count": v }, e[v])),
      el("td", { class: "num" }, fmtNumber(e.mean))));
    return el("table", { id: "evaluator-summary" },
      el("thead", {}, el("tr", {}, el("th", {}, "Evaluator"),
        ["Passed", "Failed", "No threshold", "Errored", "Mean score"].map((h) => el("th", { class: "num" }, h)))),
      el("tbody", {}, rows));
  }

  // A chart the server drew (report/charts.rs: our own SVG, labels escaped there), parsed
  // as SVG (never as HTML: nothing in it runs) and adopted into the page.
  function svgNode(text) {
    const parsed = new DOMParser().parseFromString(text, "image/svg+xml");
    const root = parsed.documentElement;
    if (root.nodeName !== "svg" || parsed.getElementsByTagName("parsererror").length) {
      return el("p", { class: "muted" }, "This chart could not be drawn.");
    }
    return document.importNode(root, true);
  }

  function scoreCharts(evaluators) {
    const drawn = evaluators.filter((e) => e.scored > 0);
    if (!drawn.length) return [];
    return [el("h2", {}, "Score distributions"),
      el("div", { id: "score-charts", class: "charts" }, drawn.map((e) =>
        el("figure", { class: "chart", "data-evaluator": e.id }, svgNode(e.svg),
          el("figcaption", { class: "muted" }, `${e.scored} score${e.scored === 1 ? "" : "s"}, ${fmtNumber(e.range[0])} to ${fmtNumber(e.range[1])}`))))];
  }

  function gridChart(grid) {
    if (!grid) return [];
    return [el("h2", {}, "Grid search: pass rate per combination"),
      el("div", { id: "grid-chart", class: "charts" }, svgNode(grid.svg)),
      el("ul", { id: "grid-runs", class: "inline-links" }, grid.runs.map((r) =>
        el("li", {}, el("a", { href: runHref(r.id), "data-run-id": r.id }, r.grid || r.id)))),
      el("p", {}, el("a", { id: "grid-view-link", href: gridHref(grid.runs[0].id, {}) },
        "See the combinations' outputs side by side, with a diff"))];
  }

  function caseDetail(c, evaluations, colspan, review) {
    const parts = [
      c.call ? callTimeline(c.output, c.call) : null,
      el("h3", {}, "Test case"), el("pre", { class: "test-case" }, fmtJson(c.test_case)),
      el("h3", {}, "Output"), el("pre", { class: "output" }, fmtJson(c.output)),
    ];
    if (c.error) parts.push(el("h3", {}, "fn raised"), el("pre", { class: "traceback" }, c.error));
    parts.push(el("h3", {}, "Evaluations"));
    if (!evaluations.length) parts.push(el("p", { class: "muted" }, "No evaluations."));
    else parts.push(el("table", { class: "evaluations" },
      el("thead", {}, el("tr", {}, ["Evaluator", "Score", "Threshold", "Verdict", "Metadata", "Error"].map((h) => el("th", {}, h)))),
      el("tbody", {}, evaluations.map((e) => el("tr", { "data-evaluator": e.evaluator_id },
        el("td", {}, e.evaluator_id),
        el("td", { class: "num" }, fmtNumber(e.score)),
        el("td", {}, fmtThreshold(e.threshold)),
        el("td", {}, verdict(e)),
        el("td", {}, e.metadata === null ? "—" : el("pre", { class: "metadata" }, fmtJson(e.metadata))),
        el("td", {}, e.error ? el("pre", { class: "traceback" }, e.error) : "—"))))));
    if (review) parts.push(review);
    return el("tr", { class: "detail", "data-hash": c.hash }, el("td", { colspan }, parts));
  }

  // A case's trials (runs with repeats): verdict, passed trials and the 95% Wilson interval.
  function trialCell(t) {
    if (!t) return "—";
    return [el("span", { class: "verdict " + (t.verdict === "passed" ? "passed" : t.verdict === "failed" ? "failed" : "errored"), title: t.flaky ? "flaky: its trials disagreed" : "" }, t.verdict),
      ` ${t.passed_trials}/${t.trials} (95% CI ${fmtNumber(Math.round(t.ci[0] * 1000) / 1000)}–${fmtNumber(Math.round(t.ci[1] * 1000) / 1000)})`];
  }

  // A case's status as the status filter and sort see it: errored (fn raised or an
  // evaluation errored), failed, or passed.
  function caseStatus(c) {
    if (c.error || c.evaluations.some((e) => e.verdict === "errored")) return "errored";
    if (c.evaluations.some((e) => e.verdict === "failed")) return "failed";
    return "passed";
  }

  // The run page's view state, kept in the hash route's query so a reload or a shared
  // link shows the same view: #/run/{id}?q=&status=&evaluator=&sort=&dir=&page=&size=
  const PAGE_SIZE = 50;
  function viewState(search) {
    const p = new URLSearchParams(search);
    const whole = (name, fallback, max) => {
      const n = Number.parseInt(p.get(name) || "", 10);
      return Number.isFinite(n) && n >= 1 ? Math.min(n, max) : fallback;
    };
    return {
      q: p.get("q") || "", status: p.get("status") || "all", evaluator: p.get("evaluator") || "",
      sort: p.get("sort") || "index", dir: p.get("dir") === "desc" ? "desc" : "asc",
      page: whole("page", 1, 1e9), size: whole("size", PAGE_SIZE, 500),
    };
  }

  function stateQuery(state) {
    return query({
      q: state.q, status: state.status === "all" ? "" : state.status, evaluator: state.evaluator,
      sort: state.sort === "index" ? "" : state.sort, dir: state.dir === "desc" ? "desc" : "",
      page: state.page > 1 ? String(state.page) : "", size: state.size !== PAGE_SIZE ? String(state.size) : "",
    });
  }

  function casesPath(runId, state) {
    return `/api/runs/${encodeURIComponent(runId)}/cases` + query({
      offset: String((state.page - 1) * state.size), limit: String(state.size), sort: state.sort,
      dir: state.dir, q: state.q, status: state.status, evaluator: state.evaluator,
    });
  }

  // The run page shown now: a change of its view state reloads only its cases table.
  let runView = null;

  async function showRun(token, reference, state) {
    runView = null;
    // The summary and the first page are read at once (a reference other than an id, such
    // as "latest", reads the first page of the run it names then).
    const [summary, firstPage] = await Promise.all([
      api(`/api/runs/${encodeURIComponent(reference)}/summary`), api(casesPath(reference, state)).catch((error) => ({ error }))]);
    const run = summary.run;
    const ids = summary.evaluators.map((e) => e.id);
    const review = summary.review || { jobs: [], items: [] };
    const reviewing = review.jobs.length > 0 || review.items.length > 0;
    let reviewQueue = review;
    const reviewSection = el("div", { id: "review-section" });
    const showReview = (queue) => {
      reviewQueue = queue;
      const items = new Map(queue.items.map((i) => [i.case_hash, i]));
      reviewSection.replaceChildren(el("h2", {}, "Human review"), reviewSummary(queue, run.cases));
      for (const cell of tbody.querySelectorAll("td.human-grade")) cell.replaceChildren(gradeBadge(items.get(cell.dataset.hash)));
    };

    let current = state;
    const go = (changes) => {
      const next = { ...current, ...changes };
      const target = runHref(reference) + stateQuery(next);
      if (location.hash === target) return;
      document.body.dataset.cases = "loading";
      location.hash = target;
    };

    const search = el("input", { type: "search", id: "case-search", placeholder: "Search hash, label, input, output, metadata, errors",
      "aria-label": "search the cases", value: state.q });
    let typing = null;
    search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => go({ q: search.value.trim(), page: 1 }), 300);
    });
    search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { clearTimeout(typing); go({ q: search.value.trim(), page: 1 }); }
    });
    const status = el("select", { id: "filter-status", "aria-label": "status filter" },
      [["all", "all cases"], ["passed", "passed"], ["failed", "failed"], ["errored", "errored"]].map(([v, t]) => el("option", { value: v }, t)));
    const evaluator = el("select", { id: "filter-evaluator", "aria-label": "evaluator filter" },
      el("option", { value: "" }, "every evaluator"), ids.map((id) => el("option", { value: id }, id)));
    status.addEventListener("change", () => go({ status: status.value, page: 1 }));
    evaluator.addEventListener("change", () => go({ evaluator: evaluator.value, page: 1 }));
    const counter = el("span", { id: "case-count", class: "muted" });
    const prev = el("button", { type: "button", id: "page-prev" }, "‹ Previous");
    const next = el("button", { type: "button", id: "page-next" }, "Next ›");
    const pageInfo = el("span", { id: "page-info", class: "muted" });
    prev.addEventListener("click", () => go({ page: current.page - 1 }));
    next.addEventListener("click", () => go({ page: current.page + 1 }));
    const tbody = el("tbody");
    const head = el("thead");
    const table = el("table", { id: "cases-table" }, head, tbody);

    // A header that sorts by its column: a first click sorts ascending (scores: best
    // first), a second reverses.
    function sortHeader(label, key, attrs) {
      const sorted = current.sort === key;
      const firstDir = key.startsWith("score:") || key === "duration" || key === "status" ? "desc" : "asc";
      const button = el("button", { type: "button", class: "sort", "data-sort": key },
        label, sorted ? (current.dir === "desc" ? " ▼" : " ▲") : "");
      button.addEventListener("click", () => go({
        sort: key, dir: sorted ? (current.dir === "desc" ? "asc" : "desc") : firstDir, page: 1,
      }));
      return el("th", { ...attrs, "data-sort": key, "aria-sort": sorted ? (current.dir === "desc" ? "descending" : "ascending") : "none" }, button);
    }

    function render(answer) {
      const shown = current.evaluator ? [current.evaluator] : ids;
      head.replaceChildren(el("tr", {}, sortHeader("#", "index", { class: "num" }), sortHeader("Case", "case", {}),
        sortHeader("Duration", "duration", { class: "num" }), sortHeader("Status", "status", {}),
        summary.trials ? el("th", { class: "trials", title: summary.trials }, "Trials") : null,
        shown.map((id) => sortHeader(id, "score:" + id, { "data-evaluator": id })),
        reviewing ? el("th", { class: "human-grade" }, "Human grade") : null));
      const items = new Map(reviewQueue.items.map((i) => [i.case_hash, i]));
      const rows = answer.cases.map((c) => {
        const caseState = caseStatus(c);
        const row = el("tr", { class: "clickable case-row", "data-hash": c.hash, "data-index": c.index, "data-status": caseState, "aria-expanded": "false" },
          el("td", { class: "num" }, c.index),
          el("td", { class: "case-name", title: c.hash }, caseName(c.hash, c.label)),
          el("td", { class: "num", "data-duration": c.duration_s }, fmtSeconds(c.duration_s)),
          el("td", { class: "case-status" }, c.error ? el("span", { class: "verdict errored" }, "raised") : el("span", { class: `status-word ${caseState}` }, caseState)),
          summary.trials ? el("td", { class: "trials" }, trialCell(c.trials)) : null,
          shown.map((id) => {
            const e = c.evaluations.find((x) => x.evaluator_id === id);
            return el("td", { "data-evaluator": id, "data-score": e && e.score !== null ? e.score : null }, verdict(e), e ? " " + fmtNumber(e.score) : "");
          }),
          reviewing ? el("td", { class: "human-grade", "data-hash": c.hash }, gradeBadge(items.has(c.hash) ? items.get(c.hash) : c.review)) : null);
        let detail = null; // built on first opening
        row.addEventListener("click", () => {
          if (detail) detail.hidden = !detail.hidden;
          else row.after(detail = caseDetail(c, c.evaluations, 4 + shown.length + (reviewing ? 1 : 0) + (summary.trials ? 1 : 0),
            reviewBlock(run.id, c, items.has(c.hash) ? items.get(c.hash) : c.review, (queue) => {
              if (!reviewing) { location.reload(); return; } // the table gains its grade column
              showReview(queue);
            })));
          row.classList.toggle("open", !detail.hidden);
          row.setAttribute("aria-expanded", String(!detail.hidden));
        });
        return row;
      });
      tbody.replaceChildren(...rows);
      if (!rows.length) {
        tbody.append(el("tr", { class: "no-cases" }, el("td", { colspan: 4 + shown.length }, "No case matches.")));
      }
      const pages = Math.max(1, Math.ceil(answer.total / current.size));
      counter.textContent = `${answer.total} of ${run.cases} cases`;
      const first = answer.total ? answer.offset + 1 : 0;
      pageInfo.textContent = `${first}–${answer.offset + answer.cases.length} · page ${current.page} of ${pages}`;
      pageInfo.dataset.page = String(current.page);
      pageInfo.dataset.pages = String(pages);
      prev.disabled = current.page <= 1;
      next.disabled = current.page >= pages;
      status.value = current.status;
      evaluator.value = current.evaluator;
      if (document.activeElement !== search) search.value = current.q;
      table.dataset.sort = current.sort;
      table.dataset.dir = current.dir;
      document.body.dataset.cases = "ready";
    }

    // Loads the page of cases `state` asks for; a slow answer overtaken by a newer one is dropped.
    let loads = 0;
    async function update(state) {
      const mine = ++loads;
      current = state;
      document.body.dataset.cases = "loading";
      try {
        const answer = await api(casesPath(run.id, state));
        if (mine === loads && runView && runView.update === update) render(answer);
      } catch (error) {
        if (mine === loads) casesError(error);
      }
    }

    // A view state the API refused (a shared link naming an evaluator the run lacks): the
    // page stays, its table says why.
    function casesError(error) {
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4 + ids.length, class: "error-box", id: "cases-error", role: "alert" }, error.message || String(error))));
      document.body.dataset.cases = "ready";
    }

    if (reviewing) showReview(review);
    const shownPage = show(token,
      el("h1", {}, "Run of ", el("span", { id: "run-suite" }, run.suite_id)),
      el("div", { id: "run-header", "data-run-id": run.id }, runFacts(run)),
      summary.previous
        ? el("p", {}, el("a", { id: "compare-previous", href: compareHref(summary.previous, run.id) }, "Compare with the run before it"))
        : el("p", { id: "no-previous", class: "muted" }, "The first run of this suite and grid: nothing before it to compare with."),
      el("h2", {}, "Evaluators"),
      ids.length ? evaluatorSummary(summary.evaluators) : el("p", { class: "muted" }, "No evaluations."),
      scoreCharts(summary.evaluators),
      gridChart(summary.grid),
      reviewSection,
      el("h2", {}, "Cases"),
      el("div", { class: "toolbar", id: "filters" },
        search, el("label", {}, "Show", status), el("label", {}, "by", evaluator), counter),
      table,
      el("div", { class: "toolbar pager", id: "pager" }, prev, pageInfo, next));
    if (!shownPage) return;
    runView = { reference, update };
    if (firstPage.error) casesError(firstPage.error);
    else render(firstPage);
  }

  // --- #/grid/{id} : a grid search's combinations side by side ---------------------

  const GRID_PAGE = 20;

  // A diff of words as text nodes: kept, added (<ins>) and removed (<del>) runs.
  function diffNodes(parts) {
    return parts.map(([tag, text]) => tag === "+" ? el("ins", {}, text) : tag === "-" ? el("del", {}, text) : text);
  }

  function gridSide(s, isBase) {
    const parts = [el("div", { class: "grid-verdict" },
      el("span", { class: `status-word ${s.status}` }, s.status),
      s.evaluations.map((e) => [" ", el("span", { class: "grid-score", "data-evaluator": e.evaluator_id, title: e.evaluator_id },
        verdict(e), " ", fmtNumber(e.score))]))];
    if (s.error) parts.push(el("pre", { class: "traceback" }, s.error));
    if (s.text !== null) {
      const mark = isBase ? "base" : s.same ? "same as base" : "diff against base";
      parts.push(el("div", { class: "muted grid-mark" }, mark),
        el("pre", { class: "grid-output" + (s.diff ? " diffed" : "") }, s.diff ? diffNodes(s.diff) : s.text));
    }
    return el("td", { class: "grid-side", "data-run-id": s.run_id, "data-status": s.status, "data-same": String(s.same) }, parts);
  }

  async function showGrid(token, reference, search) {
    const p = new URLSearchParams(search);
    const page = Math.max(1, Number.parseInt(p.get("page") || "1", 10) || 1);
    const state = { q: p.get("q") || "", differ: p.get("differ") === "1", base: p.get("base") || "", page };
    const answer = await api(`/api/runs/${encodeURIComponent(reference)}/grid` + query({
      offset: String((page - 1) * GRID_PAGE), limit: String(GRID_PAGE), q: state.q,
      differ: state.differ ? "1" : "", base: state.base,
    }));
    const go = (changes) => { location.hash = gridHref(reference, { ...state, ...changes }); };
    const searchBox = el("input", { type: "search", id: "grid-search", placeholder: "Search the cases (of the base combination)",
      "aria-label": "search the cases", value: state.q });
    searchBox.addEventListener("keydown", (event) => { if (event.key === "Enter") go({ q: searchBox.value.trim(), page: 1 }); });
    const differ = el("input", { type: "checkbox", id: "grid-differ", checked: state.differ });
    differ.addEventListener("change", () => go({ differ: differ.checked, page: 1 }));
    const base = el("select", { id: "grid-base", "aria-label": "combination to diff against" },
      answer.combinations.map((c) => el("option", { value: c.id, selected: c.id === answer.base }, c.grid || c.id)));
    base.addEventListener("change", () => go({ base: base.value, page: 1 }));
    const pages = Math.max(1, Math.ceil(answer.total / GRID_PAGE));
    const prev = el("button", { type: "button", id: "grid-prev", disabled: page <= 1 }, "‹ Previous");
    const next = el("button", { type: "button", id: "grid-next", disabled: page >= pages }, "Next ›");
    prev.addEventListener("click", () => go({ page: page - 1 }));
    next.addEventListener("click", () => go({ page: page + 1 }));
    const at = answer.combinations.findIndex((c) => c.id === answer.base);
    const rows = answer.cases.map((c) => el("tr", { class: "grid-row", "data-hash": c.hash, "data-differ": String(c.differ) },
      el("td", { class: "case-name", title: c.hash }, caseName(c.hash, c.label),
        el("pre", { class: "test-case" }, fmtJson(c.test_case))),
      c.sides.map((s, i) => gridSide(s, i === at))));
    if (!rows.length) rows.push(el("tr", { class: "no-cases" }, el("td", { colspan: 1 + answer.combinations.length }, "No case matches.")));
    const first = answer.total ? answer.offset + 1 : 0;
    show(token,
      el("h1", {}, "Grid search of ", el("span", { id: "grid-suite" }, answer.suite_id),
        el("span", { class: "muted" }, ` · ${answer.combinations.length} combinations side by side`)),
      el("p", {}, el("a", { href: runHref(answer.run_id) }, "Back to the run")),
      el("div", { class: "toolbar", id: "grid-filters" }, searchBox,
        el("label", {}, differ, "only cases where the combinations differ"),
        el("label", {}, "diff against", base),
        el("span", { id: "grid-count", class: "muted" }, `${answer.total} case${answer.total === 1 ? "" : "s"}`)),
      el("div", { class: "grid-scroll" }, el("table", { id: "grid-table" },
        el("thead", {}, el("tr", {}, el("th", {}, "Case"), answer.combinations.map((c) =>
          el("th", { "data-run-id": c.id }, el("a", { href: runHref(c.id) }, c.grid || c.id),
            el("div", { class: "muted" }, `${c.passed}/${c.cases} passed`))))),
        el("tbody", {}, rows))),
      el("div", { class: "toolbar pager", id: "grid-pager" }, prev,
        el("span", { id: "grid-page-info", class: "muted", "data-page": page, "data-pages": pages },
          `${first}–${answer.offset + answer.cases.length} · page ${page} of ${pages}`), next));
  }

  // --- #/compare/{base}/{head} : two runs side by side --------------------------------

  const UNCHANGED_PAGE = 200;
  const CHANGED_PAGE = 500;

  function compareSide(title, run, id) {
    return el("section", { id },
      el("h2", {}, title, " ", el("a", { href: runHref(run.id), class: "mono", title: run.id }, shortId(run.id))),
      runFacts(run));
  }

  function metadataCell(record, cls) {
    if (!record) return el("td", { class: cls }, "—");
    const parts = [];
    if (record.metadata !== null) parts.push(el("pre", { class: "metadata" }, fmtJson(record.metadata)));
    if (record.error) parts.push(el("pre", { class: "traceback" }, record.error));
    return el("td", { class: cls }, parts.length ? parts : "—");
  }

  function hashList(id, hashes) {
    if (!hashes.length) return el("p", { id, class: "muted" }, "None.");
    return el("ul", { id, class: "hashes" }, hashes.map((h) => el("li", { class: "mono", "data-hash": h }, h)));
  }

  function gradeCell(grade, cls) {
    if (!grade) return el("td", { class: cls }, el("span", { class: "muted" }, "—"));
    return el("td", { class: cls }, gradeBadge(grade), grade.note ? el("div", { class: "grade-note-text" }, grade.note) : "");
  }

  function humanGrades(reviews) {
    if (!reviews.length) return [];
    return [el("h2", {}, "Human grades"),
      el("table", { id: "compare-reviews" },
        el("thead", {}, el("tr", {}, ["Case", "Base", "Head"].map((h) => el("th", {}, h)))),
        el("tbody", {}, reviews.map((r) => el("tr", { "data-hash": r.hash },
          el("td", { class: "mono", title: r.hash }, shortHash(r.hash)),
          gradeCell(r.base, "base-grade"), gradeCell(r.head, "head-grade")))))];
  }

  // Per evaluator, base's and head's scores (of the cases both hold) overlaid.
  function compareCharts(histograms) {
    if (!histograms.length) return [];
    return el("div", { id: "compare-charts", class: "charts" }, histograms.map((h) =>
      el("figure", { class: "chart", "data-evaluator": h.evaluator }, svgNode(h.svg),
        el("figcaption", { class: "muted" }, `base ${h.base.reduce((a, b) => a + b, 0)} scores, head ${h.head.reduce((a, b) => a + b, 0)}`))));
  }

  // A compare row: a case's evaluation (or its fn, when it newly raised) in both runs.
  function compareRow(r) {
    if (r.change === "newly_errored") {
      return el("tr", { class: "compare-row", "data-hash": r.hash, "data-evaluator": "", "data-change": "newly_errored" },
        el("td", { class: "case-name", title: r.hash }, caseName(r.hash, r.label)), el("td", {}, "fn"),
        el("td", { class: "change-newly_errored" }, "newly errored"), el("td", { class: "base-side" }, "ok"),
        el("td", { class: "head-side" }, el("span", { class: "verdict errored" }, "raised")), el("td", {}, "—"),
        el("td", { class: "base-metadata" }, "—"), el("td", { class: "head-metadata" }, el("pre", { class: "traceback" }, r.head_error)));
    }
    const delta = r.delta;
    const deltaClass = delta === null || delta === 0 ? "num" : delta > 0 ? "num delta-up" : "num delta-down";
    const record = (metadata, error) => (metadata === null && error === null ? null : { metadata, error });
    return el("tr", { class: "compare-row", "data-hash": r.hash, "data-evaluator": r.evaluator_id, "data-change": r.change },
      el("td", { class: "case-name", title: r.hash }, caseName(r.hash, r.label)),
      el("td", {}, r.evaluator_id),
      el("td", { class: `change-${r.change}` }, r.change.replace("_", " ")),
      sideCell(r.base, "base-side"),
      sideCell(r.head, "head-side"),
      el("td", { class: deltaClass }, delta === null ? "—" : (delta > 0 ? "+" : "") + fmtNumber(delta)),
      metadataCell(record(r.base_metadata, r.base_error), "base-metadata"),
      metadataCell(record(r.head_metadata, r.head_error), "head-metadata"));
  }

  async function showCompare(token, baseRef, headRef) {
    // The rows come a page at a time (two runs of 100,000 cases are not sent whole): the
    // changed rows first, then the unchanged ones behind a button, 200 at a time.
    const rowsPath = (base, head, which, offset, limit) => "/api/compare" + query({
      base, head, rows: which, offset: String(offset), limit: String(limit) });
    const answer = await api(rowsPath(baseRef, headRef, "changed", 0, CHANGED_PAGE));
    const cmp = answer.comparison;
    const counts = answer.counts;
    const body = el("tbody", {}, answer.rows.items.map(compareRow));
    const shown = { changed: answer.rows.items.length, unchanged: 0 };
    const more = el("button", { id: "compare-more", type: "button" });
    const label = () => {
      const changedLeft = counts.changed - shown.changed;
      const left = counts.unchanged - shown.unchanged;
      more.textContent = changedLeft > 0
        ? `Show ${Math.min(CHANGED_PAGE, changedLeft)} more of the ${changedLeft} changed rows left`
        : `Show ${Math.min(UNCHANGED_PAGE, left)} of the ${left} unchanged rows`;
      more.hidden = changedLeft === 0 && left === 0;
    };
    more.addEventListener("click", async () => {
      more.disabled = true;
      try {
        const which = counts.changed > shown.changed ? "changed" : "unchanged";
        // By id: "latest" could name a newer run by now.
        const page = await api(rowsPath(cmp.base.id, cmp.head.id, which, shown[which],
          which === "changed" ? CHANGED_PAGE : UNCHANGED_PAGE));
        for (const row of page.rows.items) body.append(compareRow(row));
        shown[which] += page.rows.items.length;
      } catch (error) {
        more.after(el("p", { class: "error-box", role: "alert" }, error.message || String(error)));
      }
      more.disabled = false;
      label();
    });
    label();

    const evaluatorRows = cmp.evaluators.map((s) => el("tr", { "data-evaluator": s.id },
      el("td", {}, s.id), el("td", { class: "num" }, s.compared),
      el("td", { class: "num", "data-count": "newly_failing" }, s.newly_failing.length),
      el("td", { class: "num", "data-count": "newly_passing" }, s.newly_passing.length),
      el("td", { class: "num" }, fmtNumber(s.base_mean)), el("td", { class: "num" }, fmtNumber(s.head_mean)),
      el("td", { class: "num" }, s.mean_delta === null ? "—" : fmtNumber(s.mean_delta))));

    const regressions = answer.regressions;
    show(token,
      el("h1", {}, "Compare ", el("span", { id: "compare-suite" }, cmp.head.suite_id)),
      el("div", { class: "sides" }, compareSide("Base", cmp.base, "compare-base"), compareSide("Head", cmp.head, "compare-head")),
      el("h2", {}, "Regressions"),
      regressions.length
        ? el("ul", { id: "regressions" }, regressions.map((r) => el("li", { "data-hash": r.hash },
          caseName(r.hash, r.label), r.evaluator_id ? ` · ${r.evaluator_id}` : "", `: ${r.reason}`)))
        : el("p", { id: "regressions", class: "muted" }, "None: nothing that passed in base fails in head."),
      el("h2", {}, "Evaluators"),
      compareCharts(answer.histograms || []),
      el("table", { id: "compare-evaluators" },
        el("thead", {}, el("tr", {}, el("th", {}, "Evaluator"),
          ["Compared", "Newly failing", "Newly passing", "Base mean", "Head mean", "Mean Δ"].map((h) => el("th", { class: "num" }, h)))),
        el("tbody", {}, evaluatorRows)),
      el("h2", {}, "Cases in both runs"),
      el("table", { id: "compare-table" },
        el("thead", {}, el("tr", {}, ["Case", "Evaluator", "Change", "Base", "Head", "Δ score", "Base metadata", "Head metadata"]
          .map((h) => el("th", {}, h)))),
        body),
      more,
      ...humanGrades(cmp.reviews || []),
      el("h2", {}, `Only in head (${cmp.added.length})`), hashList("added-cases", cmp.added),
      el("h2", {}, `Only in base (${cmp.removed.length})`), hashList("removed-cases", cmp.removed));
  }

  // --- routing -----------------------------------------------------------------

  async function route() {
    let parts;
    let search = "";
    try {
      const hash = location.hash.replace(/^#\/?/, "");
      const at = hash.indexOf("?");
      if (at >= 0) { search = hash.slice(at + 1); }
      parts = (at >= 0 ? hash.slice(0, at) : hash).split("/").map(decodeURIComponent);
    } catch (e) {
      parts = [];
    }
    // The same run with another view state: only its cases are read again.
    if (parts[0] === "run" && runView && runView.reference === parts[1]) {
      await runView.update(viewState(search));
      return;
    }
    const token = ++renderCount;
    runView = null;
    delete document.body.dataset.page; // set again once the page is shown
    try {
      if (parts[0] === "run" && parts[1]) await showRun(token, parts[1], viewState(search));
      else if (parts[0] === "grid" && parts[1]) await showGrid(token, parts[1], search);
      else if (parts[0] === "compare") await showCompare(token, parts[1] || "", parts[2] || "");
      else await showRuns(token);
    } catch (error) {
      showError(token, error);
    }
    if (token === renderCount) document.body.dataset.page = parts[0] || "runs";
  }

  window.addEventListener("hashchange", route);
  route();
})();
