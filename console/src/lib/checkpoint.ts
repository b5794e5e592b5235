// A C2SP checkpoint in a signed note (docs/formats.md §5): origin, size,
// root hash, extension lines, a blank line, signature lines.

export interface ParsedCheckpoint {
  origin: string;
  size: number;
  root: string;
  extensions: string[];
  signatures: { name: string; keyHash: string }[];
}

export function parseCheckpoint(note: string): ParsedCheckpoint | null {
  const split = note.indexOf("\n\n");
  if (split < 0) return null;
  const body = note.slice(0, split).split("\n");
  if (body.length < 3) return null;
  const size = Number(body[1]);
  if (!Number.isSafeInteger(size) || size < 0) return null;
  const signatures: { name: string; keyHash: string }[] = [];
  for (const line of note.slice(split + 2).split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) continue;
    let keyHash = "";
    try {
      const raw = atob(m[2]);
      keyHash = Array.from(raw.slice(0, 4), (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
    } catch {
      keyHash = "?";
    }
    signatures.push({ name: m[1], keyHash });
  }
  return { origin: body[0], size, root: body[2], extensions: body.slice(3), signatures };
}
