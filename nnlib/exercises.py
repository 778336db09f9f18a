"""Self-checks for the book's exercises.

Each exercise has a ``test()`` that returns ``(ok, hint)``. :func:`check_answer` runs it and
prints a short verdict in the book's language; an exercise the reader has not answered yet
(its stub still raises ``NotImplementedError``) only gets a reminder, so a notebook with
unanswered exercises still runs from top to bottom.
"""


def check_answer(name, test):
    """Run ``test()`` (returning ``(ok, hint)``) and print 正确 / 再试试 with the hint.

    Returns True, False, or None when the exercise is not answered yet.
    """
    try:
        ok, hint = test()
    except NotImplementedError:
        print(f"{name}：还没有作答。把 raise NotImplementedError 换成你的代码，再运行本格。")
        return None
    except Exception as exc:  # the answer runs but fails: tell the reader how
        print(f"{name}：再试试。你的代码报错 {type(exc).__name__}: {exc}")
        return False
    print(f"{name}：正确！" if ok else f"{name}：再试试。{hint}")
    return bool(ok)
