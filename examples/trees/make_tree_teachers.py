#!/usr/bin/env python3
"""Train tree ensembles on the Seattle weather table and write them as ONNX-ML teachers.

    /usr/bin/python3 examples/trees/make_tree_teachers.py [OUT_DIR]

Needs scikit-learn (1.2 tested), onnx (1.12 tested) and, for the XGBoost teacher, xgboost (1.7 tested).
skl2onnx is not needed: the TreeEnsembleClassifier nodes are written from the fitted trees with
onnx.helper, in skl2onnx's layout, so that tfjs-distill meets the graphs people have:

  NAME_zipmap.onnx  input `float_input` [N, 4] float; outputs `output_label` (string [N]) and
                    `output_probability` (a sequence of maps, class name -> probability, from ZipMap)
  NAME.onnx         the same without ZipMap (skl2onnx's zipmap=False): outputs `label` and `probabilities` [N, 5]

for NAME in forest (RandomForestClassifier), boosting (GradientBoostingClassifier) and xgboost (XGBClassifier).
Small graphs for the error tests are written too (see README.md), and expected.json holds each library's own
predict on weather-test.csv, which the tests compare with tfjs-distill's labels.

OUT_DIR defaults to test/fixtures/trees. Every model is seeded, so re-running gives the same files.
"""
import csv
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLES = os.path.join(ROOT, 'test', 'fixtures', 'tabular')
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'test', 'fixtures', 'trees')
FEATURES = ['precipitation', 'temp_max', 'temp_min', 'wind']
LABEL = 'weather'
ML = 'ai.onnx.ml'
OPSETS = [helper.make_opsetid('', 13), helper.make_opsetid(ML, 1)]


def read_table(name):
    with open(os.path.join(TABLES, name), newline='') as f:
        rows = list(csv.DictReader(f))
    # float32, as scikit-learn's trees compare (they convert X to float32 before predicting).
    x = np.array([[float(row[c]) for c in FEATURES] for row in rows], dtype=np.float32)
    return x, np.array([row[LABEL] for row in rows])


def float32_at_most(value):
    """The largest float32 <= value: for float32 x, x <= value exactly when x <= this."""
    rounded = np.float32(value)
    return float(rounded if rounded <= value else np.nextafter(rounded, np.float32(-np.inf)))


class TreeNodes:
    """The nodes_* and class_* (or target_*) attributes of a tree ensemble, filled one tree at a time."""

    def __init__(self):
        self.nodes = {k: [] for k in ['treeids', 'nodeids', 'featureids', 'modes', 'values', 'truenodeids', 'falsenodeids']}
        self.leaves = {k: [] for k in ['treeids', 'nodeids', 'ids', 'weights']}

    def node(self, tree, node, feature=0, mode='LEAF', value=0.0, true_id=0, false_id=0):
        for key, v in zip(self.nodes, [tree, node, feature, mode, value, true_id, false_id]):
            self.nodes[key].append(v)

    def leaf(self, tree, node, column, weight):
        for key, v in zip(self.leaves, [tree, node, column, weight]):
            self.leaves[key].append(v)

    def sklearn_tree(self, tree_id, tree, leaf_weights):
        """A fitted sklearn tree: left when x[f] <= threshold; leaf_weights(node) gives (column, weight) pairs."""
        t = tree.tree_
        for n in range(t.node_count):
            if t.children_left[n] == -1:
                self.node(tree_id, n)
                for column, weight in leaf_weights(n):
                    self.leaf(tree_id, n, column, weight)
            else:
                value = float32_at_most(t.threshold[n])
                self.node(tree_id, n, int(t.feature[n]), 'BRANCH_LEQ', value, int(t.children_left[n]), int(t.children_right[n]))

    def attributes(self, prefix):
        out = {f'nodes_{k}': v for k, v in self.nodes.items()}
        out.update({f'{prefix}_{k}': v for k, v in self.leaves.items()})
        return out


def sequence_of_maps(name, key_type=TensorProto.STRING):
    """ZipMap's output type, seq(map(key, float)), built by hand: onnx 1.12's helper has no make_map_type_proto."""
    value = onnx.ValueInfoProto()
    value.name = name
    entry = value.type.sequence_type.elem_type.map_type
    entry.key_type = key_type
    entry.value_type.tensor_type.elem_type = TensorProto.FLOAT
    return value


def classifier_model(nodes, classes, post_transform='NONE', base_values=None, zipmap=True, input_type=TensorProto.FLOAT):
    """A TreeEnsembleClassifier graph in skl2onnx's layout, with or without ZipMap."""
    strings = isinstance(classes[0], str)
    label_attr = {'classlabels_strings': list(classes)} if strings else {'classlabels_int64s': [int(c) for c in classes]}
    extra = {'base_values': list(base_values)} if base_values is not None else {}
    label_type = TensorProto.STRING if strings else TensorProto.INT64
    graph_nodes = [
        helper.make_node('TreeEnsembleClassifier', ['float_input'], ['label', 'probabilities'], name='TreeEnsembleClassifier',
                         domain=ML, post_transform=post_transform, **label_attr, **extra, **nodes.attributes('class')),
    ]
    rows = len(classes)
    if zipmap:
        graph_nodes += [
            helper.make_node('Identity', ['label'], ['output_label'], name='LabelIdentity'),
            helper.make_node('ZipMap', ['probabilities'], ['output_probability'], name='ZipMap', domain=ML, **label_attr),
        ]
        outputs = [helper.make_tensor_value_info('output_label', label_type, [None]),
                   sequence_of_maps('output_probability', TensorProto.STRING if strings else TensorProto.INT64)]
    else:
        outputs = [helper.make_tensor_value_info('label', label_type, [None]),
                   helper.make_tensor_value_info('probabilities', TensorProto.FLOAT, [None, rows])]
    inputs = [helper.make_tensor_value_info('float_input', input_type, [None, len(FEATURES)])]
    return finish(helper.make_graph(graph_nodes, 'tree_ensemble', inputs, outputs))


def finish(graph):
    model = helper.make_model(graph, opset_imports=OPSETS, producer_name='tfjs-distill examples/trees')
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def forest_nodes(forest):
    """A forest's predict_proba is the mean of its trees' leaf class shares: each leaf weighs its shares / n_trees."""
    nodes = TreeNodes()
    count = len(forest.estimators_)
    for tree_id, tree in enumerate(forest.estimators_):
        values = tree.tree_.value[:, 0, :]

        def shares(n, values=values):
            total = values[n].sum()
            return [(c, float(v / total / count)) for c, v in enumerate(values[n]) if v > 0]

        nodes.sklearn_tree(tree_id, tree, shares)
    return nodes


def boosting_nodes(boosting):
    """
    Multiclass gradient boosting: decision_function = init + learning_rate * (sum of stage trees, one per class),
    and predict_proba = softmax(decision_function). So each leaf adds learning_rate * value to its class's column,
    base_values hold the init's raw prediction, and post_transform SOFTMAX gives the probabilities.
    """
    nodes = TreeNodes()
    tree_id = 0
    for stage in boosting.estimators_:
        for column, tree in enumerate(stage):
            values = tree.tree_.value[:, 0, 0]
            rate = boosting.learning_rate
            nodes.sklearn_tree(tree_id, tree, lambda n, c=column, v=values: [(c, float(rate * v[n]))])
            tree_id += 1
    return nodes


def boosting_base_values(boosting, x):
    """The init's raw prediction (log of the class priors), the same for every row: read it back from sklearn."""
    raw = boosting._raw_predict_init(x[:1])[0]
    return [float(v) for v in raw]


def xgboost_model(x, y, classes, zipmap):
    """XGBoost multi:softprob: margin = base_score + sum of the class's trees; left when x < split (BRANCH_LT)."""
    import xgboost

    index = {c: i for i, c in enumerate(classes)}
    booster = xgboost.XGBClassifier(n_estimators=60, max_depth=4, learning_rate=0.2, random_state=0, n_jobs=1,
                                    tree_method='exact', objective='multi:softprob')
    booster.fit(x, np.array([index[c] for c in y]))
    dumps = booster.get_booster().get_dump(dump_format='json')
    nodes = TreeNodes()
    for tree_id, dump in enumerate(dumps):
        column = tree_id % len(classes)
        stack = [json.loads(dump)]
        while stack:
            node = stack.pop()
            if 'leaf' in node:
                nodes.node(tree_id, node['nodeid'])
                nodes.leaf(tree_id, node['nodeid'], column, float(node['leaf']))
                continue
            feature = int(node['split'][1:])
            nodes.node(tree_id, node['nodeid'], feature, 'BRANCH_LT', float(node['split_condition']), node['yes'], node['no'])
            stack.extend(node['children'])
    base = float(booster.get_params()['base_score'] or 0.5)
    model = classifier_model(nodes, classes, 'SOFTMAX', [base] * len(classes), zipmap)
    return booster, model


def save(model, name):
    path = os.path.join(OUT, name)
    onnx.save(model, path)
    print(f'{name}: {os.path.getsize(path)} bytes')


def small_error_graphs(x, y, classes):
    """Tiny graphs for the error tests: each breaks one thing tfjs-distill checks."""
    small = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x, y)
    nodes = forest_nodes(small)
    # Integer class labels (the classes' indices in sklearn's order), with ZipMap keyed by int64.
    save(classifier_model(nodes, list(range(len(classes))), zipmap=True), 'small_int_labels_zipmap.onnx')
    # A double input, as some exporters declare it.
    save(classifier_model(nodes, classes, zipmap=False, input_type=TensorProto.DOUBLE), 'small_double_input.onnx')
    # Leaf weights that sum to 3, not 1: the forest's trees summed, not averaged.
    doubled = forest_nodes(small)
    doubled.leaves['weights'] = [w * 3 for w in doubled.leaves['weights']]
    save(classifier_model(doubled, classes, zipmap=False), 'small_unnormalised.onnx')
    # Two float [N, 5] outputs a teacher could be read from, neither the classifier's own.
    two = classifier_model(nodes, classes, zipmap=False)
    del two.graph.output[1]
    for name in ['scores_a', 'scores_b']:
        two.graph.node.append(helper.make_node('Identity', ['probabilities'], [name], name=name))
        two.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, len(classes)]))
    save(finish(two.graph), 'small_two_outputs.onnx')
    # An ai.onnx.ml operator no runtime implements, after the ensemble.
    odd = classifier_model(nodes, classes, zipmap=False)
    odd.graph.node.append(helper.make_node('Calibrate', ['probabilities'], ['calibrated'], name='Calibrate', domain=ML))
    odd.graph.output[1].name = 'calibrated'
    odd = helper.make_model(odd.graph, opset_imports=OPSETS, producer_name='tfjs-distill examples/trees')
    odd.ir_version = 8
    save(odd, 'small_unknown_operator.onnx')
    # A network with ONNX-ML preprocessing alone (Scaler, then a linear layer's logits): an ordinary ONNX teacher.
    weights = helper.make_tensor('weights', TensorProto.FLOAT, [4, len(classes)], [((i * 7) % 5 - 2) / 4 for i in range(4 * len(classes))])
    graph = helper.make_graph(
        [helper.make_node('Scaler', ['float_input'], ['scaled'], name='Scaler', domain=ML, offset=[float(v) for v in x.mean(0)],
                          scale=[float(1 / v) for v in x.std(0)]),
         helper.make_node('MatMul', ['scaled', 'weights'], ['logits'], name='MatMul')],
        'scaler_network',
        [helper.make_tensor_value_info('float_input', TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info('logits', TensorProto.FLOAT, [None, len(classes)])],
        initializer=[weights])
    save(finish(graph), 'small_scaler_network.onnx')
    # A regressor: wind from the other three features.
    regressor = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(x[:, :3], x[:, 3])
    reg_nodes = TreeNodes()
    for tree_id, tree in enumerate(regressor.estimators_):
        values = tree.tree_.value[:, 0, 0]
        reg_nodes.sklearn_tree(tree_id, tree, lambda n, v=values: [(0, float(v[n] / len(regressor.estimators_)))])
    graph = helper.make_graph(
        [helper.make_node('TreeEnsembleRegressor', ['float_input'], ['variable'], name='TreeEnsembleRegressor', domain=ML,
                          n_targets=1, post_transform='NONE', **reg_nodes.attributes('target'))],
        'tree_regressor',
        [helper.make_tensor_value_info('float_input', TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info('variable', TensorProto.FLOAT, [None, 1])])
    save(finish(graph), 'small_regressor.onnx')


def main():
    os.makedirs(OUT, exist_ok=True)
    x, y = read_table('weather-train.csv')
    test_x, test_y = read_table('weather-test.csv')
    forest = RandomForestClassifier(n_estimators=300, max_depth=5, random_state=0, n_jobs=1).fit(x, y)
    boosting = GradientBoostingClassifier(n_estimators=60, max_depth=3, learning_rate=0.1, random_state=0).fit(x, y)
    classes = [str(c) for c in forest.classes_]
    assert classes == [str(c) for c in boosting.classes_]
    expected = {'features': FEATURES, 'label': LABEL, 'classes': classes, 'testRows': len(test_y), 'models': {}}

    def record(name, predicted, note):
        expected['models'][name] = {'note': note, 'accuracy': float(np.mean(predicted == test_y)),
                                    'predictions': [str(p) for p in predicted]}

    for zipmap in (True, False):
        suffix = '_zipmap' if zipmap else ''
        save(classifier_model(forest_nodes(forest), classes, zipmap=zipmap), f'forest{suffix}.onnx')
        save(classifier_model(boosting_nodes(boosting), classes, 'SOFTMAX', boosting_base_values(boosting, x), zipmap),
             f'boosting{suffix}.onnx')
    record('forest', forest.predict(test_x), 'RandomForestClassifier(n_estimators=300, max_depth=5, random_state=0)')
    record('boosting', boosting.predict(test_x),
           'GradientBoostingClassifier(n_estimators=60, max_depth=3, learning_rate=0.1, random_state=0)')
    try:
        for zipmap in (True, False):
            booster, model = xgboost_model(x, y, classes, zipmap)
            save(model, f'xgboost{"_zipmap" if zipmap else ""}.onnx')
        record('xgboost', np.array(classes)[booster.predict(test_x)],
               'XGBClassifier(n_estimators=60, max_depth=4, learning_rate=0.2, random_state=0, tree_method=exact)')
    except ImportError:
        print('xgboost is not installed: no XGBoost teacher')
    small_error_graphs(x, y, classes)
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1)
        f.write('\n')
    for name, model in expected['models'].items():
        print(f"{name}: test accuracy {model['accuracy']:.4f}")


if __name__ == '__main__':
    main()
