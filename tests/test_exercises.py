from nnlib.exercises import check_answer


def test_verdicts(capsys):
    assert check_answer("练习 1", lambda: (True, "")) is True
    assert check_answer("练习 2", lambda: (False, "看看形状")) is False
    assert check_answer("练习 3", lambda: (_ for _ in ()).throw(NotImplementedError)) is None
    assert check_answer("练习 4", lambda: 1 / 0) is False
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "练习 1：正确！"
    assert out[1] == "练习 2：再试试。看看形状"
    assert "还没有作答" in out[2]
    assert "ZeroDivisionError" in out[3]
