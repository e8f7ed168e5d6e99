import os
import os.path as osp
import shutil
import sys
from setuptools import find_packages, setup

# What `mim` (openmim) and `selecsls_mm::` config inheritance read from an
# installed package: selecsls_mm/.mim/{configs,tools,model-index.yml}.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def requirements(path):
    """Requirement lines of ``path`` (comments, options and ``-r`` dropped)."""
    with open(path, encoding='utf-8') as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line and not line.startswith('-')]


def add_mim_extension():
    """Put the configs, tools and model index into ``selecsls_mm/.mim``:
    symlinks for an editable install (``pip install -e .``), copies when a
    wheel or sdist is built (``pip install .``), as OpenMMLab packages do."""
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'build_py'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim = osp.join(repo, 'selecsls_mm', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(repo, name), osp.join(mim, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim), dst)
        elif osp.isdir(src):
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copyfile(src, dst)


def version():
    scope = {}
    with open('selecsls_mm/version.py', encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


add_mim_extension()
setup(
    name='selecsls-mm',
    version=version(),
    description='SelecSLS networks (XNect) as OpenMMLab backbones, '
    'with an XNect-style bottom-up pose head for MMPose',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['selecsls_mm', 'selecsls_mm.*']),
    package_data={
        'selecsls_mm': [
            '.mim/model-index.yml', '.mim/configs/**/*.py',
            '.mim/configs/**/*.yml', '.mim/configs/**/*.md',
            '.mim/tools/**/*.py', '.mim/tools/**/*.sh'
        ]
    },
    python_requires='>=3.9',
    # `import selecsls_mm` needs torch, mmengine, mmcv (mmcv-lite or mmcv with
    # ops: two distribution names, so neither is listed) and mmpretrain. The
    # tested stacks are pinned in requirements/ (docs/install.md).
    install_requires=['mmengine>=0.10.0', 'mmpretrain>=1.2.0'],
    extras_require={
        # selecsls_mm.pose. mmpose itself is installed with
        # `pip install --no-deps mmpose` (its requirements pull chumpy, which
        # does not build), and xtcocotools from source
        # (`--no-binary xtcocotools`; its wheels crash on numpy 2).
        'pose': requirements('requirements/pose.txt') + ['xtcocotools>=1.12'],
        # configs/det: mmdet 3.x, which also needs mmcv with compiled ops
        # (`make env-full`).
        'det': ['mmdet>=3.0.0,<3.4.0'],
        # ONNX export, int8 quantization, --runtime onnxruntime(-int8).
        'deploy': ['onnx', 'onnxruntime'],
        'tests': requirements('requirements/tests.txt'),
    },
    license='MIT',
)
