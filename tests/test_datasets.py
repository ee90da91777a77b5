"""trialrun.datasets: test cases from CSV and JSON Lines files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, md5, run_test_suite
from trialrun.datasets import DatasetCase, DatasetError, load_csv, load_jsonl


@dataclasses.dataclass
class Question(BaseTestCase):
    question: str
    n: int
    weight: float = 1.0
    hard: bool = False
    note: str | None = None

    def hash(self) -> str:
        return md5(self.question)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_rows_become_cases_with_hashes_stable_across_loads(tmp_path):
    path = write(tmp_path, "q.csv", 'question,answer\nWhat is 2+2?,4\n"Hi, there",hello\n')
    cases = load_csv(path)
    assert [c.fields for c in cases] == [
        {"question": "What is 2+2?", "answer": "4"},
        {"question": "Hi, there", "answer": "hello"},
    ]
    assert cases[0]["answer"] == "4" and cases[1].question == "Hi, there"
    assert [c.hash() for c in load_csv(path)] == [c.hash() for c in cases]
    assert len({c.hash() for c in cases}) == 2
    # The hash follows the content, not the line: moved rows keep theirs.
    moved = write(tmp_path, "moved.csv", 'answer,question\nhello,"Hi, there"\n4,What is 2+2?\n')
    assert [c.hash() for c in load_csv(moved)] == [cases[1].hash(), cases[0].hash()]


def test_an_id_column_gives_the_hash(tmp_path):
    path = write(tmp_path, "q.jsonl", '{"id": 7, "q": "a"}\n\n{"id": "x", "q": "b"}\n')
    cases = load_jsonl(path, id_column="id")
    assert [c.hash() for c in cases] == [md5("7"), md5("x")]
    # Changing other fields keeps the case's identity.
    edited = write(tmp_path, "e.jsonl", '{"id": 7, "q": "changed"}\n')
    assert load_jsonl(edited, id_column="id")[0].hash() == md5("7")


def test_case_type_fields_are_filled_and_converted_from_csv_text(tmp_path):
    path = write(
        tmp_path,
        "q.csv",
        "question,n,weight,hard,note,extra\nfirst,1,0.5,true,,ignored\nsecond,2,2,no,hi,x\n",
    )
    cases = load_csv(path, Question)
    assert cases == [
        Question("first", 1, 0.5, True, None),
        Question("second", 2, 2.0, False, "hi"),
    ]
    jsonl = write(tmp_path, "q.jsonl", json.dumps({"question": "j", "n": 3, "hard": True}) + "\n")
    assert load_jsonl(jsonl, Question) == [Question("j", 3, 1.0, True)]


@pytest.mark.parametrize(
    ("name", "text", "case_type", "message"),
    [
        ("bad.jsonl", '{"q": 1}\n{"q": 2,}\n', None, "bad.jsonl:2: not valid JSON"),
        ("list.jsonl", '{"q": 1}\n\n[1, 2]\n', None, "list.jsonl:3: a JSON object is needed"),
        ("cells.csv", "a,b\n1,2\n1,2,3\n", None, "cells.csv:3: 3 cells, but the header names 2"),
        ("empty.csv", "", None, "empty.csv:1: no header row"),
        ("dupcol.csv", "a,a\n1,2\n", None, "dupcol.csv:1: column 'a' appears twice"),
        ("same.csv", "a,b\n1,2\n3,4\n1,2\n", None, "same.csv:4: the same hash as line 2"),
        ("missing.csv", "question,x\nq,1\n", Question, "missing.csv:2: Question needs 'n'"),
        ("type.csv", "question,n\nq,one\n", Question, "type.csv:2: column 'n': 'one' is not a int"),
        (
            "multi.csv",
            'question,n\n"two\nlines",1\nq,zz\n',
            Question,
            "multi.csv:4: column 'n'",
        ),
    ],
)
def test_bad_rows_are_refused_naming_file_and_line(tmp_path, name, text, case_type, message):
    path = write(tmp_path, name, text)
    load = load_jsonl if name.endswith(".jsonl") else load_csv
    with pytest.raises(DatasetError) as info:
        load(path, case_type)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_missing_id_value_and_a_missing_file_are_named(tmp_path):
    path = write(tmp_path, "ids.csv", "id,q\n1,a\n,b\n")
    with pytest.raises(DatasetError, match=r"ids.csv:3: no value in the id column 'id'"):
        load_csv(path, id_column="id")
    with pytest.raises(DatasetError, match=r"nope.csv: cannot read it"):
        load_csv(tmp_path / "nope.csv")
    with pytest.raises(TypeError, match="BaseTestCase subclass"):
        load_csv(path, dict)  # type: ignore[arg-type]


def test_loaded_cases_run_as_a_suite_and_keep_their_rows(tmp_path, store_rows):
    path = write(tmp_path, "sums.csv", "a,b,expected\n1,2,3\n2,2,5\n")

    class Sum(BaseTestEvaluator):
        id = "sum"

        def evaluate_test_case(self, test_case: DatasetCase, output: int) -> Evaluation:
            return Evaluation(
                score=float(output == int(test_case["expected"])), threshold=Threshold(gte=1)
            )

    cases = load_csv(path)
    result = run_test_suite("csv-sums", cases, lambda c: int(c.a) + int(c.b), [Sum()], quiet=True)
    assert [c.evaluations[0].verdict for c in result.cases] == ["passed", "failed"]
    rows = store_rows("SELECT hash, test_case FROM case_results ORDER BY idx")
    assert [r["hash"] for r in rows] == [c.hash() for c in cases]
    assert json.loads(rows[0]["test_case"]) == {"a": "1", "b": "2", "expected": "3"}
