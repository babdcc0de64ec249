"""Print the README's settings reference table from shared.config.SETTINGS."""

from __future__ import annotations

from shared.config import SETTINGS


def table() -> str:
    lines = ["| Setting | Meaning | Default |", "| --- | --- | --- |"]
    for spec in SETTINGS:
        default = f"`{spec.default}`" if spec.default else "—"
        meaning = spec.meaning + (" Secret." if spec.secret else "")
        lines.append(f"| `{spec.name}` | {meaning} | {default} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
