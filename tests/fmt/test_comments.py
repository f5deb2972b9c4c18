"""Comments stay where the author put them: none lost, none duplicated, order kept."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from tests.fmt.support import (
    EXAMPLE_FILES,
    assert_formatting_is_safe,
    comment_texts,
    fmt,
    parse_module,
)


def pm(text: str) -> str:
    return dedent(text).lstrip("\n")


def test_own_line_comments_stay_before_their_node_at_its_indentation() -> None:
    text = pm(
        """
        # About the process.
        process P {
        # The key.
                key id
          # An event.
          event E {
        # Its field.
        id: str
          }
        }
        """
    )
    assert fmt(text) == pm(
        """
        # About the process.
        process P {
            # The key.
            key id

            # An event.
            event E {
                # Its field.
                id: str
            }
        }
        """
    )


def test_trailing_comments_stay_at_the_end_of_their_line() -> None:
    text = pm(
        """
        process P {  # opening
            key id # the key
            machine M {
                states A,B     # two states
                transition go: A -> B on E  # the edge
                    run T(a = key)  # the action
            }  # end of M
        }  # end of file
        """
    )
    assert fmt(text) == pm(
        """
        process P {  # opening
            key id  # the key

            machine M {
                states A, B  # two states
                transition go: A -> B on E  # the edge
                    run T(a = key)  # the action
            }  # end of M
        }  # end of file
        """
    )


def test_comments_at_the_end_of_a_block_stay_before_its_brace() -> None:
    text = pm(
        """
        process P {
            event E {
                id: str

            # more fields later
            }
            machine M {
            # nothing yet
            }
        # the end
        }
        # after the end
        """
    )
    assert fmt(text) == pm(
        """
        process P {
            event E {
                id: str

                # more fields later
            }

            machine M {
                # nothing yet
            }
            # the end
        }
        # after the end
        """
    )


def test_blank_lines_between_comments_are_kept() -> None:
    text = pm(
        """
        process P {
            key id

            # ---- events ----

            # The first event.
            event E {}
        }
        """
    )
    assert fmt(text) == text


def test_a_comment_inside_a_line_that_gets_joined_moves_above_it() -> None:
    text = pm(
        """
        process P {
            machine M {
                transition go: A  # from A
                    -> B on E
                states A,  # first
                    B
            }
        }
        """
    )
    assert fmt(text) == pm(
        """
        process P {
            machine M {
                # from A
                transition go: A -> B on E
                # first
                states A, B
            }
        }
        """
    )


def test_comments_inside_a_list_stack_up_above_the_statement() -> None:
    """docs/style.md shows this case: the comments leave the names they were about."""
    text = pm(
        """
        process P {
            machine M {
                states Working,  # still running
                    Closing,     # waiting for the cloud API
                    Closed
            }
        }
        """
    )
    assert fmt(text) == pm(
        """
        process P {
            machine M {
                # still running
                # waiting for the cloud API
                states Working, Closing, Closed
            }
        }
        """
    )


def test_a_comment_inside_a_filled_list_goes_before_the_line_around_it() -> None:
    names = [f"State{n:02}Long" for n in range(12)]
    text = pm(
        f"""
        process P {{
            machine M {{
                states {", ".join(names[:7])},  # about {names[7]}
                    {", ".join(names[7:])}
            }}
        }}
        """
    )
    assert fmt(text) == pm(
        f"""
        process P {{
            machine M {{
                states {", ".join(names[:6])},
                       # about {names[7]}
                       {", ".join(names[6:])}
            }}
        }}
        """
    )


def test_a_comment_among_bindings_keeps_them_one_per_line() -> None:
    text = pm(
        """
        process P {
            machine M {
                transition go: A -> B on E
                    run T(
                        # the stream's key
                        a = key,
                        b = false,  # always
                    )
            }
        }
        """
    )
    assert fmt(text) == text


def test_comments_beside_the_clauses_of_a_transition_stay_there() -> None:
    text = pm(
        """
        process P {
            machine M {
                transition go: A -> B on E
                    # only for large orders
                    when event.total > 100  # in euros
                    keep Reserve  # its outcome still counts
                    set data.seen = true
                    emit Alert(
                        # the stream's key
                        order = key,
                    )
            }
        }
        """
    )
    assert fmt(text) == text


def test_a_comment_inside_an_expression_moves_above_its_line() -> None:
    text = "process P { complete when data.a and # why\n data.b }"
    assert fmt(text) == pm(
        """
        process P {
            # why
            complete when data.a and data.b
        }
        """
    )


def test_comment_markers_inside_strings_are_not_comments() -> None:
    text = 'process P {\n    event E {\n        s: str = "# not a comment"  # a comment\n    }\n}\n'
    assert fmt(text) == text
    assert comment_texts(parse_module(text)) == ["# a comment"]


def test_trailing_whitespace_in_comments_is_dropped() -> None:
    assert fmt("process P {  # note   \n}\n") == "process P {  # note\n}\n"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_comments_everywhere_in_the_examples(path: Path) -> None:
    # Start from the canonical layout, where no line is joined or split.
    lines = fmt(path.read_text(encoding="utf-8")).split("\n")
    commented = "\n".join(
        f"# own {n}\n{line}  # end {n}" if line.strip() else line for n, line in enumerate(lines)
    )
    formatted = assert_formatting_is_safe(commented)
    for n, line in enumerate(lines):
        if line.strip():
            assert formatted.count(f"# own {n}\n") == 1
            assert formatted.count(f"# end {n}\n") == 1
    # Trailing comments stay trailing: none of them ends up on a line of its own.
    assert not any(line.lstrip().startswith("# end") for line in formatted.splitlines())
