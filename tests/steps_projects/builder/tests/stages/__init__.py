"""Test stages package."""

from . import worker_audit, worker_submission, worker_task

__all__ = ["worker_audit", "worker_submission", "worker_task"]
