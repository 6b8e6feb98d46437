"""The ground: item models, ids, identity, the Store protocol and each operation's rules.

No I/O and no framework: the HTTP face and the storage backends both stand on this package.
"""
