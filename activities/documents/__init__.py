"""Invoice documents: PDF invoices and credit notes, EN 16931 e-invoices, kept as issued."""
