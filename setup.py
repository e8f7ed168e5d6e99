from setuptools import find_packages, setup


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


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
    # The pinned stack is in requirements/runtime.txt; mmpose is installed with --no-deps
    # (see Makefile), so it is not listed here.
    install_requires=['mmengine>=0.10.0', 'mmpretrain>=1.2.0'],
    license='MIT',
)
