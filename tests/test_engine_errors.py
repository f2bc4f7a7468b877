"""A Spark job's error as one line: the file it was reading stays named however long its path."""

from __future__ import annotations

from features.engine import one_line


class _JavaError:
    """A Java exception as py4j shows it: ``toString`` and ``getCause``."""

    def __init__(self, text: str, cause: _JavaError | None = None) -> None:
        self.text, self.cause = text, cause

    def toString(self) -> str:  # noqa: N802 (py4j's name)
        return self.text

    def getCause(self) -> _JavaError | None:  # noqa: N802 (py4j's name)
        return self.cause


class _Py4JError(Exception):
    def __init__(self, java: _JavaError) -> None:
        super().__init__("An error occurred while calling o123.collectToPython.")
        self.java_exception = java


def test_the_file_read_is_named_whole_behind_a_long_root_cause():
    path = "s3a://" + "/".join(["a-rather-long-bucket-folder-name"] * 8) + "/events.parquet"
    root = _JavaError(
        "java.lang.RuntimeException: "
        + path
        + " is not a Parquet file. Expected magic number at tail, but found [0, 0, 0, 0]\n"
        + "\tat org.apache.parquet.hadoop.ParquetFileReader.readFooter(ParquetFileReader.java:1)"
    )
    outer = _JavaError(
        "org.apache.spark.SparkException: [FAILED_READ_FILE.NO_HINT] "
        f"Error while reading file {path}."
        "  SQLSTATE: KD001\n\tat org.apache.spark.sql.errors.QueryExecutionErrors$.cannotReadFile",
        cause=root,
    )
    text = one_line(_Py4JError(_JavaError("org.apache.spark.SparkException: Job aborted", outer)))
    assert "\n" not in text
    assert f"Error while reading file {path}." in text  # the file, whole
    assert text.startswith("java.lang.RuntimeException: ")
    assert len(text) < 1000


def test_a_short_error_is_kept_as_it_is():
    assert one_line(ValueError("bad value\n  more detail")) == "bad value"
    assert one_line(ValueError("x" * 400)) == "x" * 300 + "..."
