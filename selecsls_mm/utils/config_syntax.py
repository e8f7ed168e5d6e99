# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Where a config file's Python syntax error is: mmengine's own error names
neither the file nor the line when the error is in an inherited file."""
import ast
import os.path as osp
from typing import Optional, Tuple


def find_syntax_error(path: str, seen: Tuple[str, ...] = ()
                      ) -> Optional[Tuple[str, SyntaxError]]:
    """The first Python syntax error in a config file or in the local files
    its ``_base_`` names (followed as far as they are plain paths).

    Args:
        path (str): The config file.
        seen (tuple[str]): Files already on the inheritance path (no loops).

    Returns:
        tuple | None: ``(file, SyntaxError)``, or None when none is found.
    """
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
    except SyntaxError as err:
        return path, err
    except (OSError, ValueError):
        return None  # mmengine says what is wrong
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets)):
            continue
        try:
            bases = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError):
            return None
        for base in bases if isinstance(bases, (list, tuple)) else [bases]:
            base = osp.normpath(osp.join(osp.dirname(path), str(base)))
            if osp.isfile(base) and base not in seen:
                found = find_syntax_error(base, (*seen, path))
                if found:
                    return found
    return None


def syntax_error_line(path: str,
                      err: SyntaxError,
                      what: str = 'config') -> str:
    """One line for a config that mmengine could not parse: the file (the
    inherited one where the error is), the line and the error.

    Args:
        path (str): The config file given.
        err (SyntaxError): mmengine's error.
        what (str): What the file is, to start the line with.

    Returns:
        str: The line.
    """
    found = find_syntax_error(path)
    if found is None:
        return f'{what} {path}: {" ".join(str(err).split())}; fix the file'
    where, err = found
    inherited = '' if where == path else f' (inherited by {path})'
    return (f'{what} {where}{inherited} line {err.lineno}: {err.msg} (a '
            'Python syntax error); fix the file')
