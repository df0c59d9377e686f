"""Property tests of the profile file: whatever a person (or a fuzzer) writes, loading it
gives valid profiles or one ProfileError, and valid profiles survive a sync unchanged."""

from __future__ import annotations

import math
import re
import string
import tempfile
import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from digest.db import make_engine, unit_of_work, upgrade
from digest.errors import ProfileError
from digest.models import Subscriber
from digest.profiles import Profile, load_profiles, sync_profiles
from tests.support import create_database, drop_database

FIELDS = ("email", "name", "keywords", "exclude", "max_papers", "min_score")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


# --- a small TOML writer (the standard library only reads TOML) -----------------------------


def toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or char == "\x7f":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(value)


def toml_document(document: dict[str, Any]) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in document.items())


def comparable(value: Any) -> Any:
    """`value` with NaN made equal to itself, to check the writer round-trips."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    return value


# --- strategies -----------------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)
scalars = st.one_of(
    any_text,
    st.integers(),
    st.floats(),
    st.booleans(),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
numbers = st.one_of(
    st.integers(),
    st.floats(),
    st.sampled_from([0, 1, 100, 101, -1, 0.0, 1.0]),
    st.integers(min_value=2**1024 - 1, max_value=2**1100),  # TOML integers have no limit here
)
emailish = st.one_of(
    st.from_regex(
        r"[a-zA-Z0-9_+-]{1,8}(\.[a-zA-Z0-9_+-]{1,8})?@[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?"
        r"(\.[a-z]{2,4}){0,2}",
        fullmatch=True,
    ),
    st.builds(lambda a, b: f"{a}@{b}", any_text, any_text),
)
field_values = {
    "email": st.one_of(emailish, values),
    "name": st.one_of(any_text, values),
    "keywords": st.one_of(
        st.lists(any_text, max_size=4),
        st.dictionaries(any_text, numbers, max_size=4),
        values,
    ),
    "exclude": st.one_of(st.lists(any_text, max_size=3), values),
    "max_papers": st.one_of(numbers, values),
    "min_score": st.one_of(numbers, values),
}
entries = st.builds(
    lambda known, extra: {**extra, **known},
    st.fixed_dictionaries({}, optional=field_values),
    st.dictionaries(any_text, values, max_size=2) | st.just({}),
)
documents = st.one_of(
    st.dictionaries(any_text, values, max_size=4),
    st.fixed_dictionaries(
        {"subscriber": st.one_of(st.lists(entries, max_size=4), values)},
        optional={"subscribers": values, "settings": values},
    ),
)


def load_written(text: str | bytes) -> list[Profile]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "profiles.toml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return load_profiles(path)


def assert_valid(profiles: list[Profile]) -> None:
    assert profiles
    assert len({p.email for p in profiles}) == len(profiles)
    for profile in profiles:
        assert re.fullmatch(r"\S+@[a-z0-9-]+(\.[a-z0-9-]+)*", profile.email)
        assert not re.search(r"[\x00-\x1f\x7f]", profile.name + profile.email)
        assert profile.keywords
        assert all(0 < w <= 100 and math.isfinite(w) for w in profile.keywords.values())
        assert isinstance(profile.max_papers, int) and 1 <= profile.max_papers <= 100
        assert 0 <= profile.min_score <= 1


def _huge(field: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"email": "a@example.org", "keywords": ["x"]}
    if field == "weight":
        entry["keywords"] = {"x": 10**400}
    else:
        entry[field] = 10**400
    return {"subscriber": [entry]}


@settings(max_examples=300, deadline=None)
@given(documents)
@example(_huge("max_papers"))
@example(_huge("min_score"))
@example(_huge("weight"))
def test_any_toml_document_loads_or_raises_profile_error(document: dict[str, Any]) -> None:
    text = toml_document(document)
    assert comparable(tomllib.loads(text)) == comparable(document)  # the writer is right
    try:
        profiles = load_written(text)
    except ProfileError as error:
        assert str(error).startswith(("/", tempfile.gettempdir()))  # names the file
        return
    assert_valid(profiles)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.text(alphabet="[]{}=\"\n.,#abc@ 1e+-_'\\")))
@example("[[subscriber]]\nemail = 'a@b.org'\nkeywords = ['x']\nmax_papers = 1" + "0" * 400)
def test_any_text_loads_or_raises_profile_error(text: str | bytes) -> None:
    if isinstance(text, str) and re.search(r"[\ud800-\udfff]", text):
        text = text.encode("utf-8", "surrogatepass")
    try:
        profiles = load_written(text)
    except ProfileError:
        return
    assert_valid(profiles)


# --- valid profiles round-trip through sync -----------------------------------------------

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,4}[A-Za-z0-9])?"
_LOCAL = string.ascii_letters + string.digits + "_+-!#$%&'*/=?^`{|}~"
_PLAIN = st.characters(exclude_categories=("Cs", "Cc"))
_SPACE = st.sampled_from([" ", "  ", "\u00a0", "\u2003", "\u3000"])
terms = st.builds(
    lambda words, gaps, pad: pad + "".join(w + g for w, g in zip(words, gaps, strict=False)),
    st.lists(st.text(_PLAIN, min_size=1, max_size=8), min_size=1, max_size=3),
    st.lists(_SPACE, min_size=3, max_size=3),
    _SPACE | st.just(""),
).filter(lambda t: re.search(r"\w", t) is not None)
weights = st.floats(min_value=0, max_value=100, exclude_min=True) | st.integers(1, 100)


@st.composite
def valid_entries(draw: st.DrawFn) -> dict[str, Any]:
    # RFC 5322 dot-atoms: no leading, trailing or doubled dots; labels not edged by "-".
    local = ".".join(
        draw(st.lists(st.text(_LOCAL, min_size=1, max_size=5), min_size=1, max_size=2))
    )
    labels = draw(st.lists(st.from_regex(_LABEL, fullmatch=True), min_size=1, max_size=3))
    entry: dict[str, Any] = {"email": f"{draw(_SPACE | st.just(''))}{local}@{'.'.join(labels)}"}
    if draw(st.booleans()):
        entry["keywords"] = draw(st.lists(terms, min_size=1, max_size=4))
    else:
        entry["keywords"] = draw(st.dictionaries(terms, weights, min_size=1, max_size=4))
    if draw(st.booleans()):
        entry["name"] = draw(st.text(_PLAIN, max_size=30))
    if draw(st.booleans()):
        entry["exclude"] = draw(st.lists(terms, max_size=3))
    if draw(st.booleans()):
        entry["max_papers"] = draw(st.integers(1, 100))
    if draw(st.booleans()):
        entry["min_score"] = draw(st.floats(0, 1) | st.sampled_from([0, 1]))
    return entry


def expected_profile(entry: dict[str, Any]) -> Profile:
    """What the README promises the file means: addresses lowercased, terms' spaces collapsed,
    repeated terms once (a later weight wins), names trimmed, the defaults filled in."""

    def term(text: str) -> str:
        return " ".join(text.split())

    raw = entry["keywords"]
    if isinstance(raw, list):
        keywords = {term(t): 1.0 for t in raw}
    else:
        keywords = {}
        for key, weight in raw.items():
            keywords[term(key)] = float(weight)
    return Profile(
        email=entry["email"].strip().lower(),
        name=entry.get("name", "").strip(),
        keywords=keywords,
        exclude=list(dict.fromkeys(term(t) for t in entry.get("exclude", []))),
        max_papers=entry.get("max_papers", 10),
        min_score=float(entry.get("min_score", 0.0)),
    )


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = create_database(tmp_path_factory.mktemp("sync"))
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    drop_database(url)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        valid_entries(), min_size=1, max_size=5, unique_by=lambda e: e["email"].strip().lower()
    )
)
def test_valid_profiles_round_trip_through_sync(shared_engine: Engine, entries: list) -> None:
    expected = [expected_profile(entry) for entry in entries]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "profiles.toml"
        path.write_text(toml_document({"subscriber": entries}), encoding="utf-8")
        assert load_profiles(path) == expected
        first = sync_profiles(shared_engine, path)
        again = sync_profiles(shared_engine, path)
    listed = [p.email for p in expected]
    assert sorted(first.added + first.updated + first.unchanged) == sorted(listed)
    assert sorted(again.unchanged) == sorted(listed)
    assert again.added == again.updated == again.deactivated == []
    with unit_of_work(shared_engine) as session:
        rows = {s.email: s for s in session.scalars(select(Subscriber))}
        for profile in expected:
            row = rows[profile.email]
            stored = Profile(
                email=row.email,
                name=row.name,
                keywords=row.keywords,
                exclude=row.exclude,
                max_papers=row.max_papers,
                min_score=row.min_score,
            )
            assert stored == profile
            assert row.active
        assert {email for email, row in rows.items() if row.active} == set(listed)
