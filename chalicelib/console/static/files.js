// What the console knows about a file before it is sent: the table its name says it is for,
// and how it may be read (header line, encoding, delimiter). The rule and the values are the
// API's, from the generated contract; the ingest client shares them.

import { FILE_OPTIONS, NAME_WORDS, PATH_SEPARATORS, TABLES } from "./contract.js";

// The table a file is for, from its name, by the rule of the API and the ingest client
// (chalicelib/tables.py guess_table; the pattern comes from the generated contract): the one
// table whose words appear side by side among the words of the name's last path segment.
// "" when no table, or several, fit.
export function guessTable(name) {
  const base = String(name).split(new RegExp(PATH_SEPARATORS)).pop();
  const words = (base.match(new RegExp(NAME_WORDS, "g")) || []).map((w) => w.toLowerCase());
  const named = TABLES.filter((table) => holdsRun(words, table.split("_")));
  return named.length === 1 ? named[0] : "";
}

function holdsRun(words, run) {
  for (let i = 0; i + run.length <= words.length; i += 1) {
    if (run.every((word, j) => words[i + j] === word)) return true;
  }
  return false;
}

export const OPTION_NAMES = Object.freeze(Object.keys(FILE_OPTIONS));

// The API's defaults: each option's first value in the contract.
export function defaultOptions() {
  return Object.fromEntries(OPTION_NAMES.map((name) => [name, FILE_OPTIONS[name][0]]));
}

const DELIMITER_NAMES = { ",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe" };

// How one option value reads in a list: "; semicolon", "tab", "utf-8".
export function optionText(name, value) {
  if (name === "delimiter") return value === "\t" ? "tab" : `${value} ${DELIMITER_NAMES[value] || ""}`.trim();
  return value;
}

// What each option means, for the tooltip of its list (the README's words, shortened).
export const OPTION_HINTS = Object.freeze({
  header: "Is line 1 a header? auto: skipped when it names the table's columns; yes: always skipped; no: never.",
  encoding: "The file's text encoding; a UTF-16 file needs its byte order mark.",
  delimiter: "What separates the fields.",
});

// The options that differ from the API's defaults: what a request needs to carry.
export function changedOptions(options) {
  const defaults = defaultOptions();
  return Object.fromEntries(Object.entries(options || {}).filter(([name, value]) => defaults[name] !== value));
}

// A file option as a sentence part: "delimiter ';'", "delimiter tab".
export function optionPhrase(option) {
  return Object.entries(option || {})
    .map(([name, value]) => `${name} ${value === "\t" ? "tab" : `'${value}'`}`)
    .join(", ");
}
