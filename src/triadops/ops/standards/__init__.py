"""Standard changes: success records per plan, proposals to the legislature, pre-approvals."""
