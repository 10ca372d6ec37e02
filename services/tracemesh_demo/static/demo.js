// The demo page: plain JavaScript, no build step, nothing fetched from elsewhere.
// Each request starts its trace at the gateway; the trace id comes back in the W3C `traceresponse`
// header (00-<trace id>-<span id>-<flags>). A chosen scenario travels as W3C baggage.
// A trace id links to the Jaeger UI only while the gateway finds it answering (/demo/jaeger-ui); otherwise
// the page names the trace, as `make run` prints it in its terminal.
// Everything the API returns is put on the page as text (textContent), never as HTML.

const SLOW_MS = 250;  // a latency at or above this is flagged slow
const BURST_SIZE = 10;

let jaegerUrl = "";

async function main() {
  const config = await (await fetch("/demo/config")).json();
  jaegerUrl = config.jaeger_ui_url.replace(/\/+$/, "");
  const scenarioSelect = document.getElementById("scenario");
  for (const scenario of config.scenarios) {
    scenarioSelect.append(new Option(scenario.name, scenario.name));
  }
  scenarioSelect.disabled = config.scenarios.length === 0;
  document.getElementById("scenario-help").textContent = config.scenarios.length
    ? "A scenario is sent as the baggage entry tracemesh.scenario; every service reads it."
    : "Scenarios are disabled on this gateway (GATEWAY_SCENARIOS_ENABLED).";

  document.getElementById("order-form").addEventListener("submit", (event) => {
    event.preventDefault();
    placeOrder().then(refreshProducts);
  });
  document.getElementById("burst").addEventListener("click", async () => {
    await Promise.all(Array.from({ length: BURST_SIZE }, placeOrder));
    await refreshProducts();
  });
  document.getElementById("list").addEventListener("click", () => call("GET", "/orders?limit=20"));
  await Promise.all([refreshProducts(), linkTraces()]);
}

// Whether trace ids link to Jaeger: asked of the gateway for every request logged (it checks the UI at most
// every few seconds), so a Jaeger started later gets links from then on. Says which way in the header.
async function linkTraces() {
  let answers = false;
  try {
    answers = (await (await fetch("/demo/jaeger-ui")).json()).answers !== false;
  } catch (error) {
    // no answer from the gateway either: no link
  }
  document.getElementById("trace-help").textContent = answers
    ? "Click its id to open it."
    : `Nothing answers at ${jaegerUrl} (GATEWAY_JAEGER_UI_URL), so there are no links: ` +
      "make run prints each trace in its terminal, under its id.";
  return answers;
}

async function refreshProducts() {
  const response = await fetch("/products");
  if (!response.ok) return;
  const products = await response.json();
  const rows = products.map((p) => row([p.sku, p.name, String(p.stock)], [, , "number"]));
  document.querySelector("#products tbody").replaceChildren(...rows);
  const skuSelect = document.getElementById("sku");
  const chosen = skuSelect.value;
  skuSelect.replaceChildren(...products.map((p) => new Option(p.sku, p.sku)));
  if (chosen) skuSelect.value = chosen;
}

function placeOrder() {
  const sku = document.getElementById("sku").value;
  const quantity = Number(document.getElementById("quantity").value);
  return call("POST", "/orders", { sku, quantity });
}

// One API request, logged with its outcome, latency and trace.
async function call(method, path, body) {
  const scenario = document.getElementById("scenario").value;
  const headers = { "content-type": "application/json" };
  if (scenario) headers.baggage = "tracemesh.scenario=" + encodeURIComponent(scenario);
  const started = performance.now();
  let response;
  let payload = null;
  try {
    response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
    payload = await response.json().catch(() => null);
  } catch (error) {
    const latency = Math.round(performance.now() - started);
    log({ method, path, scenario, kind: "failed", result: "network error: " + error.message, latency });
    return;
  }
  const latency = Math.round(performance.now() - started);
  const traceId = (response.headers.get("traceresponse") || "").split("-")[1]
    || (payload && payload.error && payload.error.trace_id) || "";
  const linked = traceId !== "" && await linkTraces();
  log({ method, path, scenario, latency, traceId, linked, ...describe(response.status, payload) });
}

function describe(status, payload) {
  if (status < 400) {
    const what = Array.isArray(payload) ? `${payload.length} orders` : payload.status;
    return { kind: "ok", result: `${status} ${what}` };
  }
  const message = payload && payload.error ? payload.error.message : "";
  return { kind: status < 500 ? "refused" : "failed", result: `${status} ${message}` };
}

function log({ method, path, scenario, kind, result, latency, traceId, linked }) {
  const trace = document.createElement("td");
  if (traceId && linked) {
    const link = document.createElement("a");
    link.href = `${jaegerUrl}/trace/${traceId}`;
    link.target = "_blank";
    link.rel = "noopener";
    link.className = "trace";
    link.textContent = traceId;
    trace.append(link);
  } else if (traceId) {
    // The waterfall's title for this trace reads "trace <id>".
    const where = document.createElement("span");
    where.className = "where";
    where.textContent = "in the make run terminal: trace ";
    const id = document.createElement("span");
    id.className = "trace";
    id.textContent = traceId;
    trace.append(where, id);
  }
  const entry = row(
    [new Date().toLocaleTimeString(), `${method} ${path}`, scenario || "-", result, `${latency} ms`],
    [, , , "result", "number latency"],
  );
  entry.append(trace);
  entry.classList.add(kind);
  if (latency >= SLOW_MS) entry.classList.add("slow");
  entry.dataset.traceId = traceId || "";
  document.querySelector("#log tbody").prepend(entry);
}

function row(cells, classes = []) {
  const tr = document.createElement("tr");
  cells.forEach((text, i) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (classes[i]) td.className = classes[i];
    tr.append(td);
  });
  return tr;
}

main();
