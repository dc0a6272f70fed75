// The demo page: checks for WebGPU, loads the WASM module, runs the checks and renders the report.
// All GPU work and every comparison happen in Rust (web/src/lib.rs); this file only draws.
import init, { runDemo } from "./pkg/ecq_web.js";

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const kib = (b) => (b / 1024).toLocaleString("en", { maximumFractionDigits: 1 }) + " KiB";
const ms = (v) => (v == null || Number.isNaN(v) ? "–" : v.toLocaleString("en", { maximumFractionDigits: 2 }) + " ms");
const yn = (v) => (v == null ? "–" : v ? '<span class="ok">yes</span>' : '<span class="bad">NO</span>');

function log(line) {
  $("log").textContent += line + "\n";
  $("log").scrollTop = $("log").scrollHeight;
}

function verdict(status, text) {
  $("verdict").dataset.status = status;
  $("verdict").textContent = text;
}

function render(r) {
  const c = r.caps, f = r.file;
  const caps = [
    ["adapter", c.adapter_name || "(not reported)"], ["backend", c.backend], ["device type", c.device_type],
    ["kernel path", r.path], ["shader-f16", c.f16 ? "yes" : "no"],
    ["subgroups", c.subgroups ? `yes (size ${c.subgroup_min_size}..${c.subgroup_max_size})` : "no"],
    ["int8 dot product", c.dot8 ? "yes" : "no"], ["timestamp queries", c.timestamps ? "yes" : "no"],
    ["max storage binding", (c.max_storage_binding / 2 ** 20).toFixed(0) + " MiB"],
    ["workgroup storage", c.workgroup_storage / 1024 + " KiB"], ["invocations per workgroup", c.max_invocations_per_workgroup],
  ];
  const widest = f.f16_bytes;
  const bar = (cls, b) => `<span class="bar ${cls}" style="width:${(30 * b) / widest}em"></span>`;
  const sizes = [
    ["this file", f.bytes, ""], ["plain 4-bit (q4g64, 4.5 bits/weight)", f.q4_bytes, "q4"], ["f16", f.f16_bytes, "f16"],
  ];
  const rows = r.tensors.map((t) => `<tr><td>${esc(t.name)}</td><td>${t.shape}</td><td>${esc(t.format)}</td>
    <td class="n">${kib(t.stored_bytes)}</td><td>${yn(t.decode_exact)}</td><td class="n">${ms(t.cpu_decode_ms)}</td>
    <td class="n">${ms(t.gpu_decode_ms)}</td><td>${esc(t.gemv_variant)}</td>
    <td class="n ${t.gemv_ok ? "ok" : "bad"}">${t.gemv_err.toExponential(1)} ≤ ${t.gemv_bound.toExponential(0)}</td>
    <td class="n">${ms(t.cpu_gemv_ms)}</td><td class="n">${ms(t.gpu_gemv_ms)}</td><td class="n ${t.fused_ok === false ? "bad" : ""}">${t.fused_err == null ? "–" : t.fused_err.toExponential(1)}${
      t.fused_identical ? " (= GEMV)" : ""}</td>
    <td class="n">${ms(t.fused_ms)}</td><td>${esc(t.note || "")}</td></tr>`).join("");
  $("out").innerHTML = `
    <h2>GPU</h2><table>${caps.map(([k, v]) => `<tr><th>${k}</th><td>${esc(v)}</td></tr>`).join("")}</table>
    <h2>File: ${esc(f.source)}</h2>
    <p>${f.tensors} tensors, ${f.weights.toLocaleString("en")} weights;
      parsed and validated in ${ms(f.load_ms)}${f.build_ms != null ? `, built (quantized + rANS-coded in WASM) in ${ms(f.build_ms)}` : ""}.</p>
    <table>${sizes.map(([k, b, cls]) => `<tr><th>${k}</th><td class="n">${kib(b)}</td>
      <td class="n">${((8 * b) / f.weights).toFixed(2)} bits/weight</td><td>${bar(cls, b)}</td></tr>`).join("")}</table>
    <h2>Checks against the WASM CPU reference</h2>
    <table><tr><th>tensor</th><th>shape</th><th>stored as</th><th class="n">bytes</th><th>GPU decode bit-exact</th>
      <th class="n">CPU decode</th><th class="n">GPU decode</th><th>GEMV variant</th><th class="n">GEMV error ≤ bound</th>
      <th class="n">CPU GEMV</th><th class="n">GPU GEMV</th><th class="n">fused decode+GEMV error</th><th class="n">fused</th><th></th></tr>
      ${rows}</table>
    ${r.skipped ? `<p>${r.skipped} more matrices were not checked.</p>` : ""}
    <p class="sub">GPU times are wall-clock medians of ${3} runs including submission and readback (a CPU adapter such as
      SwiftShader is far slower than a GPU); CPU times are single runs of the single-threaded WASM reference.</p>`;
}

async function go(bytes, name) {
  $("out").innerHTML = "";
  $("log").textContent = "";
  verdict("running", "Running…");
  try {
    const json = await runDemo(bytes, name, log);
    const r = JSON.parse(json);
    render(r);
    verdict(r.ok ? "pass" : "fail", r.verdict);
  } catch (e) {
    const msg = typeof e === "string" ? e : `Internal error: ${e && e.message ? e.message : e} (see the console).`;
    verdict("error", msg);
    log("error: " + msg);
  }
}

async function main() {
  if (!("gpu" in navigator)) {
    verdict("error", "This browser does not offer WebGPU (navigator.gpu is missing). Use Chrome or Edge 113+ " +
      "(on Linux start it with --enable-unsafe-webgpu --enable-features=Vulkan), Safari 26+, or Firefox 141+ on " +
      "Windows; the page must be served from localhost or https.");
    return;
  }
  try {
    await init();
  } catch (e) {
    verdict("error", `The WebAssembly module failed to load: ${e}. Build it with tools/web-demo.sh.`);
    return;
  }
  $("run-default").onclick = () => go(undefined, undefined);
  $("file").onchange = async (ev) => {
    const file = ev.target.files[0];
    if (file) go(new Uint8Array(await file.arrayBuffer()), file.name);
  };
  await go(undefined, undefined);
}

main();
