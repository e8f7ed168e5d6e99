from setuptools import find_packages, setup


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def requirements(path):
    """Requirement lines of ``path`` (comments, options and ``-r`` dropped)."""
    with open(path, encoding='utf-8') as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line and not line.startswith('-')]


def version():
    scope = {}
    with open('selecsls_mm/version.py', encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='selecsls-mm',
    version=version(),
    description='SelecSLS networks (XNect) as OpenMMLab backbones, '
    'with an XNect-style bottom-up pose head for MMPose',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['selecsls_mm', 'selecsls_mm.*']),
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
