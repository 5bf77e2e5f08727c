from odoo import fields


class BigInteger(fields.Integer):
    """An Integer stored as PostgreSQL ``int8``.

    IMAP UIDVALIDITY and UIDs are unsigned 32-bit numbers and HIGHESTMODSEQ is 63-bit: they do
    not fit Odoo's ``int4`` Integer. Odoo already returns integers above 2**31 - 1 as floats
    when reading (XML-RPC cannot carry larger integers), which is exact up to 2**53.
    """

    _column_type = ("int8", "int8")
