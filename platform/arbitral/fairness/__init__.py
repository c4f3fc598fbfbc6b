"""The fairness watch: per lender, the signs of "arbitration in advance" (先予仲裁)."""
