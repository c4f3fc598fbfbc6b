"""Tables of the batches context: a lender's batch, its rejected rows, and the loan registry.

``claim_batch`` is one submission: who sent it under which ``Idempotency-Key``, the
claims file (kept in custody), and how far the processing job got. The job works in
chunks; each chunk's cases, rejected rows and the batch's counters are one
transaction, so a worker killed mid-batch resumes at the last committed chunk.

``loan_contract`` registers every online-loan contract claimed in the tenant (by a
batch or one by one), unique per lender and contract number: the same contract
claimed again is refused with a reference to the case it already is. Its rows also
record, per case, what the loan-claim assessment found at filing (for the fairness
watch). ``batch_problem`` keeps the rows a batch refused, with every problem.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Boolean, Integer, Numeric, Timestamptz, Varchar
from piccolo.table import Table


class ClaimBatch(Table, tablename="claim_batch"):
    id = UUID(primary_key=True)
    tenant_id = UUID()
    # The API client that submitted it (None: an operator, from the command line).
    client_id = Varchar(length=64, null=True, default=None)
    filed_by = Varchar(length=200)
    filer_kind = Varchar(length=20)
    idempotency_key = Varchar(length=200)
    # SHA-256 of the creating request: the same key with another request is refused.
    request_sha256 = Varchar(length=64)
    case_type = Varchar(length=40)
    rule_set = Varchar(length=100)
    rule_set_version = Varchar(length=20)
    # The lender, as the claimant of every case of the batch.
    claimant = JSON()
    declared_rows = Integer()
    # created -> uploaded -> processing -> done | failed
    state = Varchar(length=16, default="created")
    file_object_id = UUID(null=True, default=None)
    file_sha256 = Varchar(length=64, null=True, default=None)
    file_size = BigInt(null=True, default=None)
    file_format = Varchar(length=8, null=True, default=None)
    file_encoding = Varchar(length=16, null=True, default=None)
    # The checkpoint: data rows read so far (every one a case or a problem row).
    rows_read = Integer(default=0)
    cases_created = Integer(default=0)
    rows_rejected = Integer(default=0)
    rows_duplicate = Integer(default=0)
    # Problems of the file as a whole: the declared count, an unreadable encoding.
    problems = JSON(default="[]")
    created_at = Timestamptz()
    uploaded_at = Timestamptz(null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()
    # The one run of the processing job that may write now.
    lease_until = Timestamptz(null=True, default=None)


class BatchProblem(Table, tablename="batch_problem"):
    """A row the batch refused: rejected (its problems) or a duplicate (the existing case)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    batch_id = UUID()
    row_no = Integer()
    line_no = Integer()
    contract_number = Varchar(length=100, null=True, default=None)
    state = Varchar(length=12)
    problems = JSON()
    existing_case_id = UUID(null=True, default=None)


class LoanContract(Table, tablename="loan_contract"):
    """An online-loan contract claimed in the tenant: at most one case per lender and number."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    # The lender: the claimant's identity number (unified social credit code).
    lender_id_number = Varchar(length=32)
    contract_number = Varchar(length=100)
    case_id = UUID()
    batch_id = UUID(null=True, default=None)
    row_no = Integer(null=True, default=None)
    client_id = Varchar(length=64, null=True, default=None)
    amount_claimed = Numeric(digits=(16, 2))
    # What the loan-claim assessment found at filing: claimed vs supported interest.
    interest_claimed = Numeric(digits=(16, 2))
    interest_supported = Numeric(digits=(16, 2))
    over_cap = Boolean(default=False)
    created_at = Timestamptz()
