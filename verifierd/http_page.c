/*
 * GET /: the status page, self-contained (inline CSS and script, no other resource). It
 * reads the JSON API and builds the table with DOM calls; everything from the store is set
 * as textContent, never parsed as HTML, so a host name or reason holding markup shows as
 * text.
 */
#include "http_int.h"

#define VH_PAGE_SCRIPT \
    "\n'use strict';\n" \
    "function cell(tr, text, cls) {\n" \
    "  const td = document.createElement('td');\n" \
    "  td.textContent = text;\n" \
    "  if (cls) td.className = cls;\n" \
    "  tr.appendChild(td);\n" \
    "  return td;\n" \
    "}\n" \
    "function reasonList(td, reasons) {\n" \
    "  const ul = document.createElement('ul');\n" \
    "  const items = Array.isArray(reasons) ? reasons : [reasons];\n" \
    "  for (const r of items) {\n" \
    "    const li = document.createElement('li');\n" \
    "    li.className = 'reason';\n" \
    "    li.textContent = typeof r === 'string' ? r : JSON.stringify(r);\n" \
    "    ul.appendChild(li);\n" \
    "  }\n" \
    "  td.appendChild(ul);\n" \
    "}\n" \
    "async function getJSON(url) {\n" \
    "  const res = await fetch(url, {cache: 'no-store'});\n" \
    "  if (!res.ok) throw new Error(url + ': ' + res.status);\n" \
    "  return res.json();\n" \
    "}\n" \
    "async function load() {\n" \
    "  const body = document.querySelector('#hosts tbody');\n" \
    "  let after = '', n = 0;\n" \
    "  for (;;) {\n" \
    "    const page = await getJSON('/api/hosts?limit=1000&after=' + encodeURIComponent(after));\n" \
    "    for (const h of page.hosts) {\n" \
    "      const tr = document.createElement('tr');\n" \
    "      tr.className = 'host';\n" \
    "      cell(tr, h.name, 'name');\n" \
    "      cell(tr, h.verdict || 'none', 'verdict ' + (h.verdict || 'none'));\n" \
    "      const a = h.last_attempt;\n" \
    "      cell(tr, a ? new Date(a.time * 1000).toISOString() : 'never', 'time');\n" \
    "      cell(tr, a ? a.node : '', 'node');\n" \
    "      cell(tr, a ? a.outcome : '', 'outcome');\n" \
    "      cell(tr, h.stale ? 'stale' : 'no', h.stale ? 'stale' : '');\n" \
    "      const td = cell(tr, '', 'reasons');\n" \
    "      body.appendChild(tr);\n" \
    "      n++;\n" \
    "      if (h.verdict && h.verdict !== 'trusted') {\n" \
    "        const d = await getJSON('/api/hosts/' + encodeURIComponent(h.name));\n" \
    "        reasonList(td, d.reasons);\n" \
    "      }\n" \
    "    }\n" \
    "    if (page.next === null) break;\n" \
    "    after = page.next;\n" \
    "  }\n" \
    "  document.getElementById('status').textContent = n + ' hosts';\n" \
    "}\n" \
    "load().catch(e => { document.getElementById('status').textContent = 'error: ' + e.message; });\n"

const char vh_page_html[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>srtm fleet</title>\n"
    "<style>\n"
    "body{font-family:sans-serif;margin:1.5em;color:#222}\n"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;"
    "text-align:left;vertical-align:top}\n"
    ".trusted{color:#070}.untrusted{color:#b00;font-weight:bold}.stale{color:#a60}\n"
    "ul{margin:0;padding-left:1.2em}#status{color:#666}\n"
    "</style></head><body>\n"
    "<h1>srtm fleet</h1>\n"
    "<p id=\"status\">loading</p>\n"
    "<table id=\"hosts\"><thead><tr><th>host</th><th>verdict</th><th>last attempt</th>"
    "<th>node</th><th>outcome</th><th>stale</th><th>reasons</th></tr></thead>"
    "<tbody></tbody></table>\n"
    "<script>" VH_PAGE_SCRIPT "</script>\n"
    "</body></html>\n";

/* The page's one script; the Content-Security-Policy of the page allows it by its hash
 * and nothing else (http.c). */
const char vh_page_script[] = VH_PAGE_SCRIPT;

