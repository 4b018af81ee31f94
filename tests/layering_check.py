#!/usr/bin/env python3
"""Checks the include graph of plugin/ against its layers.

Usage: layering_check.py PLUGIN_DIR      exit 0 when clean, 1 with a list
       layering_check.py --self-test     proves the check can fail

Rules (plugin/CMakeLists.txt describes the layers):
  1. Every include of flsentry's own headers names its layer:
     `#include "policy/policy.h"`, never `#include "policy.h"`.
  2. A layer includes only the layers it is allowed to depend on (ALLOWED):
     data and dependencies flow one way, and the host-side layers (replay,
     cli) reach the plugin only through host_api/.
  3. No source includes LibTorch: the plugin computes without it (the
     autoencoder is plain C++), so hosts with any PyTorch can load it.
"""
import os
import re
import sys
import tempfile

# layer -> layers its files may include (besides itself).
ALLOWED = {
    'base': set(),
    'tensor': {'base'},
    'archive': {'base', 'tensor'},
    'features': {'base', 'tensor'},
    'detector': {'base', 'tensor', 'archive', 'features'},
    # The policy file carries the detector's section as plain values
    # (detector/detector_config.h).
    'policy': {'base', 'tensor', 'features', 'detector'},
    'engine': {'base', 'tensor', 'features', 'detector', 'policy'},
    'abi': {'base', 'tensor', 'features', 'policy', 'engine'},
    'replay': {'base', 'tensor', 'archive'},
    'cli': {'base', 'tensor', 'archive', 'detector', 'replay'},
}
# host_api/ headers, allowed where the C interface is implemented or used;
# the policy reads aggfilter.h's flag bits and names (one definition).
HOST_API = {'aggfilter.h', 'aggfilter_host.hpp'}
HOST_API_USERS = {'abi', 'replay', 'cli'}
HOST_API_C_USERS = {'policy', 'engine'}
TORCH = re.compile(r'#\s*include\s*<(torch|ATen|c10)/')
LOCAL = re.compile(r'#\s*include\s*"([^"]+)"')


def check(plugin_dir):
    problems = []
    for layer in sorted(os.listdir(plugin_dir)):
        layer_dir = os.path.join(plugin_dir, layer)
        if not os.path.isdir(layer_dir):
            continue
        if layer not in ALLOWED:
            problems.append(f'{layer}/: a folder that is not a known layer')
            continue
        for name in sorted(os.listdir(layer_dir)):
            if not name.endswith(('.h', '.cc')):
                continue
            rel = f'{layer}/{name}'
            with open(os.path.join(layer_dir, name), encoding='utf-8') as f:
                lines = f.read().splitlines()
            for number, line in enumerate(lines, 1):
                where = f'{rel}:{number}'
                if TORCH.search(line):
                    problems.append(f'{where}: includes LibTorch')
                m = LOCAL.search(line)
                if not m:
                    continue
                target = m.group(1)
                if target in HOST_API:
                    c_header = target == 'aggfilter.h' and layer in HOST_API_C_USERS
                    if layer not in HOST_API_USERS and not c_header:
                        problems.append(f'{where}: {layer}/ includes host_api/{target}')
                    continue
                if '/' not in target:
                    problems.append(f'{where}: "{target}" does not name its layer')
                    continue
                dep = target.split('/', 1)[0]
                if dep != layer and dep not in ALLOWED.get(layer, set()):
                    problems.append(f'{where}: {layer}/ may not include {target}')
    return problems


def self_test():
    with tempfile.TemporaryDirectory() as root:
        def write(rel, text):
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), 'w', encoding='utf-8') as f:
                f.write(text)
        write('base/status.h', '#include <string>\n')
        write('policy/policy.cc', '#include "policy/policy.h"\n#include "base/status.h"\n')
        assert check(root) == [], check(root)
        write('features/bad.cc', '#include "engine/filter_engine.h"\n')
        write('policy/bare.cc', '#include "status.h"\n')
        write('replay/torch.cc', '#include <torch/torch.h>\n#include "engine/x.h"\n')
        write('features/c.cc', '#include "aggfilter.h"\n')
        write('detector/ae.cc', '#include <ATen/ATen.h>\n')
        write('detector/ae.h', '#include <c10/util/Half.h>\n')
        found = check(root)
        expected = ['features/bad.cc:1', 'policy/bare.cc:1', 'replay/torch.cc:1',
                    'replay/torch.cc:2', 'features/c.cc:1', 'detector/ae.cc:1',
                    'detector/ae.h:1']
        for e in expected:
            assert any(p.startswith(e) for p in found), (e, found)
    print('layering_check self-test: ok')


def main():
    if sys.argv[1:] == ['--self-test']:
        self_test()
        return 0
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    problems = check(sys.argv[1])
    for p in problems:
        print(p)
    if problems:
        print(f'{len(problems)} layering problem(s)')
        return 1
    print('layering: every include follows the layers')
    return 0


if __name__ == '__main__':
    sys.exit(main())
