"""Names shared by the heart-disease steps: the UCI files, their columns and roles.

The four ``processed.*.data`` files have no header; their 14 comma-separated
fields are, in order, :data:`RAW_COLUMNS`. ``num`` is the diagnosis (0 = no
disease, 1-4 = disease); the loader adds ``disease = 1 if num > 0 else 0``, the
file it came from (``source``) and the 1-based line number (``line``), which
together are the row's stable key.
"""

from __future__ import annotations

#: Source name -> file name inside the data directory, in the loader's order.
SOURCE_FILES: dict[str, str] = {
    "cleveland": "processed.cleveland.data",
    "hungarian": "processed.hungarian.data",
    "switzerland": "processed.switzerland.data",
    "va": "processed.va.data",
}

#: The 14 fields of every line, in file order.
RAW_COLUMNS: tuple[str, ...] = (
    "age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang",
    "oldpeak", "slope", "ca", "thal", "num",
)

#: Provenance columns: together they identify a row whatever the partitioning.
KEY_COLUMNS: tuple[str, ...] = ("source", "line")
LABEL = "disease"

#: Measurements profiled with describe()-style statistics (as in the write-up).
NUMERIC_COLUMNS: tuple[str, ...] = ("age", "trestbps", "chol", "thalach", "oldpeak")
#: Coded columns profiled by disease rate per category.
CATEGORICAL_COLUMNS: tuple[str, ...] = (
    "sex", "cp", "fbs", "restecg", "exang", "slope", "ca", "thal",
)
#: Columns of the chi-square independence table (the write-up's choice).
CHI_SQUARE_COLUMNS: tuple[str, ...] = ("sex", "cp", "fbs", "restecg", "exang", LABEL)

#: Impossible values recorded as numbers: (column, operator, value) -> missing.
IMPOSSIBLE_VALUE_RULES: tuple[tuple[str, str, float], ...] = (
    ("chol", "==", 0.0),
    ("trestbps", "==", 0.0),
    ("oldpeak", "<", 0.0),
)

#: Candidates for the drop-by-missing-fraction rule (every measured column).
MEASURED_COLUMNS: tuple[str, ...] = RAW_COLUMNS[:-1]

#: Model inputs after cleaning.
MEDIAN_IMPUTED: tuple[str, ...] = ("oldpeak", "trestbps", "thalach", "chol")
MODE_IMPUTED: tuple[str, ...] = ("restecg", "exang", "fbs")
ONE_HOT: tuple[str, ...] = ("cp", "restecg")
#: Features used as they are (after imputation), in the write-up's column order.
PLAIN_FEATURES: tuple[str, ...] = (
    "age", "sex", "trestbps", "chol", "fbs", "thalach", "exang", "oldpeak",
)
