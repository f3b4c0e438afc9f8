"""Office file formats, without domain words: xlsxwriter's boundary and rows spliced as XML,
the zip writer with deflated pieces, an existing .xlsx edited at the XML level (annotation) or
through openpyxl, and .docx documents written as WordprocessingML."""
