"""Evidence packages: export, BagIt, signing, the report, WACZ, reading WARCs, verify-bag."""
