"""spark-submit entry points; each module is one job (see ``./spark-submit.sh --help``)."""
