"""The canonical style, rule by rule (docs/style.md describes the same rules)."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

from pmc.syntax.strings import quote
from tests.fmt.support import fmt


def pm(text: str) -> str:
    return dedent(text).lstrip("\n")


def test_one_item_per_line_with_four_space_indentation() -> None:
    messy = (
        "process   P{key id;event E{id:str;n : list [ str ] ; x:int|None=none}\n"
        "machine M{states A,B;initial A;final B\n"
        "transition go:A->B on E}\n"
        "start on E;complete when all M final and all M in B;fail when any M in A;cancel on E}"
    )
    assert fmt(messy) == pm(
        """
        process P {
            key id

            event E {
                id: str
                n: list[str]
                x: int | None = none
            }

            machine M {
                states A, B
                initial A
                final B
                transition go: A -> B on E
            }

            start on E

            complete when all M final and all M in B

            fail when any M in A

            cancel on E
        }
        """
    )


def test_declarations_keep_the_authors_order() -> None:
    text = pm(
        """
        process P {
            machine M {}

            event E {}

            key id
        }
        """
    )
    assert fmt(text) == text


def test_task_members_and_mode_as_written() -> None:
    text = "process P { task T sync { timeout 30s; a: str; retry 3 every 5s; returns { r: int } } }"
    assert fmt(text) == pm(
        """
        process P {
            task T sync {
                timeout 30s
                a: str
                retry 3 every 5s
                returns {
                    r: int
                }
            }
        }
        """
    )
    # No mode written stays unwritten: the default is the language's business.
    assert "task U {" in fmt("process P { task U { a: str } }")


def test_empty_blocks_close_on_the_same_line() -> None:
    assert fmt("process P { event E { } task T { returns { } } machine M { } }") == pm(
        """
        process P {
            event E {}

            task T {
                returns {}
            }

            machine M {}
        }
        """
    )
    assert fmt("process P{}") == "process P {}\n"


def test_blank_lines_inside_blocks_are_kept_but_never_doubled_or_at_the_edges() -> None:
    text = pm(
        """
        process P {


            machine M {

                states A, B


                initial A
                final B

            }
        }
        """
    )
    assert fmt(text) == pm(
        """
        process P {
            machine M {
                states A, B

                initial A
                final B
            }
        }
        """
    )


def test_strings_are_requoted_with_five_escapes() -> None:
    text = 'process P { event E { s: str = "tab\tquote\\" back\\\\ nl\\n cr\\r é" } }'
    assert 's: str = "tab\\tquote\\" back\\\\ nl\\n cr\\r é"' in fmt(text)
    assert quote('a"b\\c\nd\te\rf#{') == '"a\\"b\\\\c\\nd\\te\\rf#{"'


def test_durations_and_decimals_as_written_integers_by_value() -> None:
    text = "process P { event E { d: Decimal = 1.50 } task T { retry 007 backoff 060s max 1440m } }"
    formatted = fmt(text)
    assert "d: Decimal = 1.50" in formatted
    assert "retry 7 backoff 060s max 1440m" in formatted


def test_run_always_starts_a_continuation_line() -> None:
    text = "process P { machine M { transition go: A -> B on E run T(a = key, b = machine_id) } }"
    assert fmt(text) == pm(
        """
        process P {
            machine M {
                transition go: A -> B on E
                    run T(a = key, b = machine_id)
            }
        }
        """
    )


def test_run_without_bindings_drops_the_parentheses() -> None:
    assert "    run T\n" in fmt("process P { machine M { transition go: A -> B on E run T() } }")


def test_bindings_that_do_not_fit_go_one_per_line_with_a_trailing_comma() -> None:
    text = (
        "process P { machine M { transition approve: A -> B on Approved.reviewer "
        "run Notify(document_id = key, reviewer = machine_id, "
        "title = event.title, summary = event.summary) } }"
    )
    assert fmt(text) == pm(
        """
        process P {
            machine M {
                transition approve: A -> B on Approved.reviewer
                    run Notify(
                        document_id = key,
                        reviewer = machine_id,
                        title = event.title,
                        summary = event.summary,
                    )
            }
        }
        """
    )


def test_a_trailing_comma_alone_does_not_keep_bindings_exploded() -> None:
    text = "process P { machine M { transition go: A -> B on E run T(\n a = key,\n) } }"
    assert "run T(a = key)\n" in fmt(text)


def test_a_long_transition_breaks_before_the_arrow() -> None:
    text = (
        "process P { machine M { transition approve: Notifying, Waiting, Reminding, Overdue, "
        "Escalating, Escalated -> Approved on ReviewApproved.reviewer } }"
    )
    assert fmt(text) == pm(
        """
        process P {
            machine M {
                transition approve: Notifying, Waiting, Reminding, Overdue, Escalating, Escalated
                    -> Approved on ReviewApproved.reviewer
            }
        }
        """
    )


def test_long_name_lists_fill_lines_aligned_under_the_first_name() -> None:
    states = ", ".join(f"State{n:02}" for n in range(14))
    formatted = fmt(f"process P {{ machine M {{ states {states} }} }}")
    first = ", ".join(f"State{n:02}" for n in range(9))
    rest = ", ".join(f"State{n:02}" for n in range(9, 14))
    assert formatted.splitlines()[2:4] == [f"        states {first},", f"               {rest}"]
    assert max(len(line) for line in formatted.splitlines()) <= 100


def test_long_conditions_go_one_per_line() -> None:
    text = (
        "process P { complete when all Payment in Captured, Refunded "
        "and all Shipping in Delivered, Returned, Lost, Destroyed and all Mail final }"
    )
    assert fmt(text) == pm(
        """
        process P {
            complete when all Payment in Captured, Refunded
                and all Shipping in Delivered, Returned, Lost, Destroyed
                and all Mail final
        }
        """
    )


def test_a_line_of_exactly_one_hundred_characters_stays_whole() -> None:
    # 8 spaces + 92 characters: the limit is inclusive.
    name = "S" * (92 - len("states "))
    text = f"process P {{ machine M {{ states {name} }} }}"
    line = fmt(text).splitlines()[2]
    assert len(line) == 100


def test_windows_line_endings_become_newlines() -> None:
    assert fmt("process P {\r\n    key id\r\n}\r\n") == "process P {\n    key id\n}\n"


def test_the_examples_in_docs_style_md_are_canonical() -> None:
    document = (Path(__file__).resolve().parents[2] / "docs" / "style.md").read_text("utf-8")
    blocks = re.findall(r"```pm\n(.*?)```", document, flags=re.DOTALL)
    assert len(blocks) >= 2
    for block in blocks:
        assert fmt(block) == block


# ---- the second edition ------------------------------------------------------


def test_data_blocks_and_signals_are_laid_out_like_events() -> None:
    messy = (
        "process P{data{count:int=0;note:str|None}signal Abort{}signal Release{node:str}\n"
        "machine M{data{n:int=0}states A;initial A}}"
    )
    assert fmt(messy) == pm(
        """
        process P {
            data {
                count: int = 0
                note: str | None
            }

            signal Abort {}

            signal Release {
                node: str
            }

            machine M {
                data {
                    n: int = 0
                }
                states A
                initial A
            }
        }
        """
    )


def test_each_clause_of_a_transition_starts_a_line_in_the_one_order() -> None:
    messy = (
        "process P { machine M { transition t: A -> B on E when event.n>data.n keep T,U"
        " run T(n=data.n+1) set data.n=event.n,instance.seen=true"
        " emit Abort() emit Release(node=key)"
        " transition late: A -> B on at instance.due } }"
    )
    assert fmt(messy) == pm(
        """
        process P {
            machine M {
                transition t: A -> B on E
                    when event.n > data.n
                    keep T, U
                    run T(n = data.n + 1)
                    set data.n = event.n, instance.seen = true
                    emit Abort
                    emit Release(node = key)
                transition late: A -> B on at instance.due
            }
        }
        """
    )


def test_expressions_get_single_spaces_and_keep_the_authors_parentheses() -> None:
    messy = (
        "process P { complete when not(data.a)and(data.b or len( data.ids )>=2)"
        " and data.n-1==-1 and data.x is  not none and event.k not  in data.ks }"
    )
    assert fmt(messy) == pm(
        """
        process P {
            complete when not (data.a)
                and (data.b or len(data.ids) >= 2)
                and data.n - 1 == -1
                and data.x is not none
                and event.k not in data.ks
        }
        """
    )


def test_a_long_guard_puts_its_top_level_operands_one_per_line() -> None:
    long_guard = " or ".join(f"data.amount_of_{n} > instance.limit_of_{n}" for n in "abc")
    text = f"process P {{ machine M {{ transition t: A -> B on E when {long_guard} }} }}"
    assert fmt(text) == pm(
        """
        process P {
            machine M {
                transition t: A -> B on E
                    when data.amount_of_a > instance.limit_of_a
                        or data.amount_of_b > instance.limit_of_b
                        or data.amount_of_c > instance.limit_of_c
            }
        }
        """
    )


def test_a_lone_long_assignment_breaks_at_its_top_level_operators_like_a_guard() -> None:
    long_value = " and ".join(f"data.amount_of_{n} > instance.limit_of_{n}" for n in "abc")
    text = f"process P {{ machine M {{ transition t: A -> B on E set data.over = {long_value} }} }}"
    assert fmt(text) == pm(
        """
        process P {
            machine M {
                transition t: A -> B on E
                    set data.over = data.amount_of_a > instance.limit_of_a
                        and data.amount_of_b > instance.limit_of_b
                        and data.amount_of_c > instance.limit_of_c
            }
        }
        """
    )


def test_long_set_and_emit_clauses_break_like_lists_and_run() -> None:
    values = ", ".join(f"data.field_number_{n} = event.field_number_{n}" for n in range(4))
    bindings = ", ".join(f"field_number_{n} = data.field_number_{n}" for n in range(4))
    text = (
        f"process P {{ machine M {{ transition t: A -> B on E set {values} emit S({bindings}) }} }}"
    )
    assert fmt(text) == pm(
        """
        process P {
            machine M {
                transition t: A -> B on E
                    set data.field_number_0 = event.field_number_0,
                        data.field_number_1 = event.field_number_1,
                        data.field_number_2 = event.field_number_2,
                        data.field_number_3 = event.field_number_3
                    emit S(
                        field_number_0 = data.field_number_0,
                        field_number_1 = data.field_number_1,
                        field_number_2 = data.field_number_2,
                        field_number_3 = data.field_number_3,
                    )
            }
        }
        """
    )


def test_data_conditions_follow_the_machine_conditions() -> None:
    text = (
        "process P { complete when all M final and data.n > 0"
        "  fail when any M in A or data.n >= 3 }"
    )
    assert fmt(text) == pm(
        """
        process P {
            complete when all M final and data.n > 0

            fail when any M in A or data.n >= 3
        }
        """
    )
