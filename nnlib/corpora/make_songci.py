"""Rebuild songci.txt from the chinese-poetry npm package (MIT); run from any folder:

    npm pack chinese-poetry@2.0.1 && tar xzf chinese-poetry-2.0.1.tgz
    python make_songci.py package/dist/songci songci.txt

Takes the 宋词三百首 selection first, then the complete Song ci (全宋词) in the package's file
order, skipping repeats and ci with lost characters (□), until the file would exceed LIMIT
bytes. One ci per line:
《tune name》text. Kept next to the corpus so that it can be checked and rebuilt.
"""

import json
import re
import sys
from pathlib import Path

LIMIT = 1_000_000  # bytes of UTF-8


def ci_lines(folder):
    folder = Path(folder)
    files = [folder / "宋词三百首.json"]
    numbered = [p for p in folder.glob("ci.song.*.json") if p.stem.split(".")[-1].isdigit()]
    files += sorted(numbered, key=lambda p: int(p.stem.split(".")[-1]))
    for path in files:
        for item in json.loads(path.read_text(encoding="utf-8")):
            text = "".join(item["paragraphs"]).strip()
            text = re.sub(r"\s+", "", text)
            if text and "□" not in text + item["rhythmic"]:  # □ marks characters lost in the sources
                yield f"《{item['rhythmic'].strip()}》{text}"


def main(folder, out):
    seen, lines, size = set(), [], 0
    for line in ci_lines(folder):
        body = line.split("》", 1)[1]
        if body in seen:
            continue
        n = len(line.encode("utf-8")) + 1
        if size + n > LIMIT:
            break
        seen.add(body)
        lines.append(line)
        size += n
    Path(out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} ci, {size} bytes, {sum(len(x) for x in lines)} characters -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
