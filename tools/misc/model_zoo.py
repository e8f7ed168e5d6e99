#!/usr/bin/env python
# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Write (or check) the model zoo tables from ``model-index.yml``.

The metafiles it imports (mmpretrain's format) are the one source of the
published results. In every Markdown file given, the lines between the
marker comments :data:`START` and :data:`END` become a table of the models
that have results. Examples::

    python tools/misc/model_zoo.py --write README.md configs/selecsls/README.md
    python tools/misc/model_zoo.py --check README.md   # exit 1 if stale
"""
# Only the standard library before the arguments are parsed, so --help is
# fast; PyYAML is imported in main().
import argparse
import os.path as osp
import sys
from typing import List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
START = ('<!-- model-zoo: generated from model-index.yml by '
         'tools/misc/model_zoo.py -->')
END = '<!-- /model-zoo -->'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write or check the model zoo tables of Markdown files '
        'from model-index.yml')
    parser.add_argument('files', nargs='+', help='Markdown files to update')
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        '--write', action='store_true', help='rewrite the tables in place')
    action.add_argument(
        '--check',
        action='store_true',
        help='exit 1 if a table differs from what the metafiles give')
    parser.add_argument(
        '--index',
        default=osp.join(ROOT, 'model-index.yml'),
        help='the model index (its Import paths are relative to it)')
    return parser.parse_args(argv)


def load_models(index: str) -> List[dict]:
    """Every model of the metafiles ``index`` imports, in order."""
    import yaml
    with open(index, encoding='utf-8') as f:
        imports = yaml.safe_load(f)['Import']
    models = []
    for path in imports:
        with open(osp.join(osp.dirname(index), path), encoding='utf-8') as f:
            models += yaml.safe_load(f).get('Models', [])
    return models


def model_table(models: List[dict], folder: str, root: str) -> str:
    """The Markdown table of the models with results; links relative to
    ``folder`` (where the Markdown file lies)."""
    rows = [
        '| model | config | top-1 | top-5 | params (M) | GMACs | released '
        'weights (convert them first) |', '|---|---|---|---|---|---|---|'
    ]
    for model in models:
        if not model.get('Results'):
            continue
        metrics = model['Results'][0]['Metrics']
        meta = model['Metadata']
        config = model['Config']
        link = osp.relpath(osp.join(root, config), folder)
        source = model['Converted From']['Weights']
        name = source.rstrip('/').split('/')[-1]
        if 'huggingface.co' in source:
            name = '/'.join(source.rstrip('/').split('/')[-2:])
        rows.append(f"| `{model['Name']}` | [{osp.basename(config)}]({link}) "
                    f"| {metrics['Top 1 Accuracy']:.2f} "
                    f"| {metrics['Top 5 Accuracy']:.2f} "
                    f"| {meta['Parameters'] / 1e6:.2f} "
                    f"| {meta['FLOPs'] / 1e9:.2f} | [{name}]({source}) |")
    return '\n'.join(rows)


def with_table(text: str, table: str, path: str) -> str:
    """``text`` with the part between the markers replaced by ``table``."""
    if text.count(START) != 1 or text.count(END) != 1:
        raise ValueError(f'{path} needs the markers {START} and {END} once')
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f'{head}{START}\n{table}\n{END}{tail}'


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        return update(args)
    except (OSError, ValueError, KeyError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1


def update(args: argparse.Namespace) -> int:
    models = load_models(args.index)
    root = osp.dirname(osp.abspath(args.index))
    stale = []
    for path in args.files:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        table = model_table(models, osp.dirname(osp.abspath(path)), root)
        new = with_table(text, table, path)
        if new == text:
            continue
        if args.check:
            stale.append(path)
        else:
            with open(path, 'w', encoding='utf-8') as f:
                f.write(new)
            print(f'updated {path}')
    if stale:
        print(
            f'error: the model zoo table of {", ".join(stale)} differs '
            'from model-index.yml; run python tools/misc/model_zoo.py '
            f'--write {" ".join(stale)}',
            file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
