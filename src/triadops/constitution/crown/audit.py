"""Where ``triad audit verify`` lived before the ledger became a package: re-exported.

The replay and the comparison with the stored rows are in ``constitution.ledger.audit``.
"""

from triadops.constitution.ledger.audit import Verified, verify, verify_with_checkpoints
from triadops.domain.ledger import Discrepancy, VerifyReport

__all__ = ["Discrepancy", "Verified", "VerifyReport", "verify", "verify_with_checkpoints"]
