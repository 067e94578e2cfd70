"""Input a visitor controls (a link's ?wl=, typed text) is bounded before it is parsed, rejected
entries are reported in ONE message, echoed text is escaped and cleaned of bidi / zero-width
characters, and no user input can trip the session-state guard."""

from __future__ import annotations

import re

from core import symbols
from core.ui import session
from tests.ui.apptest import HOME, exceptions, page_key, run_page, texts

RLO, ZWSP = "\u202e", "\u200b"


def _bad_link(n: int) -> str:
    return ",".join(f"{i % 100:02d}$" for i in range(n))  # 1,000 entries: 3,999 characters


def test_a_link_with_1000_bad_entries_gives_one_message_naming_the_first_five():
    state, query = {}, {"wl": _bad_link(1000)}
    notes = session.sync_url(state, query)
    assert len(notes) == 2  # the rejects, and "no valid symbol: using the default"
    first = notes[0]
    assert first.startswith("1,000 entries")
    assert "entries were not symbols; first 5: '00$', '01$', '02$', '03$', '04$'" in first
    assert "05$" not in first and len(first) < 300
    assert state[session.WATCHLIST_KEY] == session.default_watchlist()


def test_a_100000_entry_link_is_cut_before_parsing():
    raw = _bad_link(100_000)
    assert len(raw) > 300_000
    notes = session.sync_url({}, {"wl": raw})
    assert len(notes) == 3 and notes[0].startswith("Only the first 4,096 characters")
    # the count is of what was read: far fewer than the link's 100,000 entries
    count = int(notes[1].split(" entries")[0].replace(",", ""))
    assert count <= symbols.MAX_LIST_CHARS // 2
    assert sum(len(n) for n in notes) < 1000


def test_a_link_with_1000_bad_entries_renders_one_warning_box():
    at = run_page(HOME, query={"wl": _bad_link(1000) + ",NVDA"})
    assert not exceptions(at)
    warnings = texts(at, "warning")
    assert len(warnings) == 1 and "1,000 entries were not symbols" in warnings[0]
    assert at.session_state[session.WATCHLIST_KEY] == ("NVDA",)


def test_the_cap_note_names_five_dropped_symbols_and_counts_the_rest():
    good, notes = symbols.validate_many([f"S{i}" for i in range(100)], cap=30, what="watchlist")
    assert len(good) == 30
    assert notes == ["The watchlist holds at most 30 symbols: dropped S30, S31, S32, S33, S34 "
                     "and 65 more."]


def test_echoed_text_drops_bidi_and_zero_width_characters():
    note = symbols.rejects_note([f"ab{RLO}c{ZWSP}!"])
    assert RLO not in note and ZWSP not in note and "'abc!'" in note
    assert symbols.validate(f"AA{ZWSP}PL") == "AAPL"  # pasted from a web page


def test_markdown_in_echoed_text_is_escaped():
    escaped = symbols.md_escape("![](/X) :red[x] $x$ <img src=y>")
    assert not re.search(r"(?<!\\)[!\[\]()<>$:=]", escaped), escaped  # each one escaped
    assert escaped.replace("\\", "") == "![](/X) :red[x] $x$ <img src=y>"


def test_a_typed_image_link_is_shown_as_text_not_markdown():
    at = run_page("pages/4_Option_Volume_Walls.py")
    at.text_input(key=page_key("walls", "symbol.input")).set_value("![](/X)").run()
    assert not exceptions(at)
    [warning] = [w for w in texts(at, "warning") if "Invalid symbol" in w]
    assert "![](/X)" not in warning and r"\!\[\]\(/X\)" in warning


def test_9000_typed_characters_in_the_watchlist_editor_do_not_break_the_page():
    at = run_page(HOME)
    at.text_area(key=page_key("home", "watchlist.text")).set_value("x" * 9000)
    at.form_submit_button[0].click().run()
    assert not exceptions(at)
    at.run()
    assert not exceptions(at)
    assert len(at.session_state[page_key("home", "watchlist.text")]) <= session.list_chars()


def test_2000_invalid_entries_saved_give_one_message_and_no_error():
    at = run_page(HOME)
    at.text_area(key=page_key("home", "watchlist.text")).set_value(
        " ".join(f"{i}$" for i in range(2000)))
    at.form_submit_button[0].click().run()
    assert not exceptions(at)
    warnings = texts(at, "warning")
    assert len(warnings) == 2 and "entries were not symbols" in warnings[0]


def test_the_finder_custom_list_is_bounded_and_reported_once():
    at = run_page("pages/3_Stock_Option_Finder.py")
    at.selectbox(key=page_key("finder", "group")).set_value("custom").run()
    at.text_input(key=page_key("finder", "custom")).set_value(
        "AAPL " + " ".join(f"{i}!" for i in range(3000))).run()
    assert not exceptions(at)
    notes = [t for t in texts(at, "info") if "not symbols" in t]
    assert len(notes) == 1
