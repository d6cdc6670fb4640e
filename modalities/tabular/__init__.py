"""Tabular adapter: interventional maskers over background rows, feature charts and audits."""

from __future__ import annotations

from .audit import AuditResult, Driver, LabelAudit, audit_table
from .background import correlation_linkage, feature_correlation, kmeans_background
from .explanation import TabularExplanation
from .faithfulness import DeletionResult, deletion_check
from .masker import (
    BackgroundMaskedInput,
    IndependentMasker,
    PartitionMasker,
    build_masked_rows,
    build_paired_rows,
)
from .table import TableLayout, read_csv, to_matrix, write_csv

__all__ = [
    "AuditResult",
    "BackgroundMaskedInput",
    "DeletionResult",
    "Driver",
    "IndependentMasker",
    "LabelAudit",
    "PartitionMasker",
    "TableLayout",
    "TabularExplanation",
    "audit_table",
    "build_masked_rows",
    "build_paired_rows",
    "correlation_linkage",
    "deletion_check",
    "feature_correlation",
    "kmeans_background",
    "read_csv",
    "to_matrix",
    "write_csv",
]
