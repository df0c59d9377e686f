// A second opinion on an email's HTML: caniemail.com's support tables, per client.
// Usage, in a folder of its own with a copy of this file (node finds the package beside
// it): npm install caniemail && node caniemail.mjs MESSAGE.html
// Prints each unsupported (error) or partly supported (warning) feature and the clients
// concerned; docs/email.md says what the digest's findings mean.
import { readFileSync } from "node:fs";
import { caniemail } from "caniemail";

const clients = [
  "gmail.*",
  "outlook.*",
  "apple-mail.*",
  "yahoo.*",
  "samsung-email.android",
  "fastmail.desktop-webmail",
  "protonmail.desktop-webmail",
];
const { issues } = caniemail({ clients, html: readFileSync(process.argv[2], "utf8") });
const found = new Map();
for (const kind of ["errors", "warnings"]) {
  for (const [client, list] of issues[kind] ?? new Map()) {
    for (const issue of list) {
      const key = `${kind.slice(0, -1)}: ${issue.title}`;
      found.set(key, [...(found.get(key) ?? []), client]);
    }
  }
}
for (const [feature, where] of found) {
  console.log(`${feature} (${[...new Set(where)].join(", ")})`);
}
