"""Notes on a customer: kept in the warehouse, refused when empty or too long."""

from __future__ import annotations

import pytest

import cxray
from cxray import customer_notes
from cxray.customer_notes import MAX_TEXT, NoteError, add_note, list_notes
from cxray.i18n import text_of


def test_notes_are_kept_and_listed_newest_first(make_workspace):
    ws = make_workspace()
    assert list_notes(ws.warehouse, "c1") == []  # no table yet: nothing to list
    first = add_note(ws.warehouse, "c1", "  Prefers phone calls\r\nafter 5 pm  ", "ann")
    second = add_note(ws.warehouse, "c1", "Asked about the plus plan", "bob")
    add_note(ws.warehouse, "c2", "Someone else", "ann")
    notes = list_notes(ws.warehouse, "c1")
    assert [n.note_id for n in notes] == [second.note_id, first.note_id]
    assert notes[1].text == "Prefers phone calls\nafter 5 pm"
    assert notes[1].author == "ann" and notes[1].ts.tzinfo is not None
    assert notes[0].to_dict()["customer_id"] == "c1"


def test_notes_survive_reopening(make_workspace):
    ws = make_workspace()
    add_note(ws.warehouse, "c1", "Kept", "ann")
    path = ws.path
    ws.close()
    with cxray.open(path, read_only=True) as again:
        assert [n.text for n in list_notes(again.warehouse, "c1")] == ["Kept"]


@pytest.mark.parametrize("text", ["", "   \n ", None, "x" * (MAX_TEXT + 1)])
def test_empty_or_long_notes_are_refused_in_both_languages(make_workspace, text):
    ws = make_workspace()
    with pytest.raises(NoteError) as caught:
        add_note(ws.warehouse, "c1", text, "ann")
    english, dutch = text_of(caught.value, "en"), text_of(caught.value, "nl")
    assert english != dutch and ("notitie" in dutch)
    assert list_notes(ws.warehouse, "c1") == []


def test_the_longest_note_allowed_is_kept(make_workspace):
    ws = make_workspace()
    add_note(ws.warehouse, "c1", "y" * MAX_TEXT, None)
    assert len(list_notes(ws.warehouse, "c1")[0].text) == MAX_TEXT
    assert customer_notes.has_notes_table(ws.warehouse)
