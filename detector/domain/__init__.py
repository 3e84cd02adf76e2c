"""Pure domain: parsing, classification, finding and message building. No SDK imports here."""
