"""What the program keeps on disk: the ledger (the record that must survive), the cache store
(everything derived, under one fingerprint), the run lock, atomic writes."""
