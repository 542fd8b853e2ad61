"""The errors a scene file can raise: each names the file, the field path and the fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a scene file."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SceneError(Exception):
    """A scene file that cannot be used; `problems` lists every field at fault."""

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        """The message a user reads: the file, then one line per problem."""
        lines = [f"scene file {self.file} is invalid:"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)
