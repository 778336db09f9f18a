"""3.1 前向传播 → chapters/ch03_1_forward.ipynb  (run: .venv/bin/python book/build_chapters/ch03_1.py)"""

from nbgen import CHECK, CHECK_HELPER, Exercises, build, code, md

ex = Exercises()
cells = []

# ---------------------------------------------------------------------------------------- 导言
cells += [
    md(r"""
# 3.1 前向传播

第 3 章讲训练神经网络的三个核心算法，分成三节（三个笔记本）：

- **3.1 前向传播**（本节）：给定参数，网络怎样从输入一层层算出输出和损失；每个符号是什么形状；一批样本怎样一次算完；计算图。
- **3.2 反向传播**：怎样用链式法则一次算出损失对**所有**参数的梯度，以及为什么它比逐个参数做数值微分快成千上万倍。
- **3.3 优化算法**：拿到梯度以后怎样更新参数——SGD、动量、AdaGrad、RMSProp、Adam。

本节沿用第 2 章的约定：向量都是**列向量**，$\mathbb{R}^{m \times n}$ 表示 $m$ 行 $n$ 列的实矩阵，$\odot$ 表示逐元素乘积；
权重矩阵的形状一律是"输出维数 × 输入维数"（第 2.1.3 节已说明它与源文档 2.1 节 $W^\top x$ 写法的关系，下面 3.1.2 节再对照一次）。
"""),
    code(r"""
import inspect

import numpy as np
import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits

import nnlib
from nnlib import nn
"""),
]

# ---------------------------------------------------------------------------------------- 3.1.1
cells += [
    md(r"""
## 3.1.1 逐层计算：符号与形状

考虑一个有 $L$ 层（有参数的层）的多层感知机，第 $l$ 层有 $n_l$ 个单元。把输入记作第 0 层：$h^{(0)} = x \in \mathbb{R}^{n_0}$。
源文档 3.1 节的前向传播公式是

$$
h^{(l+1)} = \sigma\!\left(W^{(l+1)} h^{(l)} + b^{(l+1)}\right), \qquad l = 0, 1, \dots, L-1 .
$$

为了第 3.2 节推导反向传播，我们把它拆成两步，给激活函数之前的量起一个名字——**净输入**（pre-activation）$z^{(l+1)}$：

$$
z^{(l+1)} = W^{(l+1)} h^{(l)} + b^{(l+1)}, \qquad h^{(l+1)} = \sigma\!\left(z^{(l+1)}\right).
$$

| 符号 | 含义 | 形状 |
|---|---|---|
| $n_l$ | 第 $l$ 层的单元数（$n_0$ 是输入维数，$n_L$ 是输出维数） | 正整数 |
| $h^{(l)}$ | 第 $l$ 层的输出（激活值）；$h^{(0)} = x$ | $\mathbb{R}^{n_l}$ |
| $W^{(l+1)}$ | 第 $l+1$ 层的权重；元素 $W^{(l+1)}_{ij}$ 是第 $l$ 层单元 $j$ 到第 $l+1$ 层单元 $i$ 的连接强度 | $\mathbb{R}^{n_{l+1} \times n_l}$ |
| $b^{(l+1)}$ | 第 $l+1$ 层的偏置 | $\mathbb{R}^{n_{l+1}}$ |
| $z^{(l+1)}$ | 第 $l+1$ 层的净输入 | $\mathbb{R}^{n_{l+1}}$ |
| $\sigma$ | 激活函数，对向量**逐元素**作用 | $\mathbb{R}^{n} \to \mathbb{R}^{n}$ |

源文档没有交代的三点，这里补上：

1. **$h^{(0)}$ 是什么。** 公式从 $l = 0$ 开始用，所以必须约定 $h^{(0)} = x$（输入层没有参数，不算一层）。
2. **形状。** 只有 $W^{(l+1)} \in \mathbb{R}^{n_{l+1} \times n_l}$ 时，$W^{(l+1)} h^{(l)}$ 才有意义并得到 $n_{l+1}$ 维的向量。下标的读法是"行 = 去往的单元，列 = 来自的单元"。
3. **最后一层通常没有 $\sigma$。** 按字面理解，公式在输出层也套了激活函数。分类网络的输出层一般是线性的，$z^{(L)} = W^{(L)} h^{(L-1)} + b^{(L)}$ 叫作**得分**（logits），
   softmax 放进损失函数里一起算（见 3.1.5 节）；回归网络的输出层也是线性的。所以本书写作 $\hat y = z^{(L)}$。

前向传播的最后一步是**损失** $J$：它把输出 $z^{(L)}$ 与标签 $y$ 比较，得到一个标量。整个前向传播就是一个从参数 $\theta = \{W^{(l)}, b^{(l)}\}_{l=1}^{L}$ 到 $J$ 的函数，
第 3.2 节要求的正是它的梯度 $\partial J / \partial \theta$。
"""),
]

# ---------------------------------------------------------------------------------------- 3.1.2
cells += [
    md(r"""
## 3.1.2 与 2.1 节 $W^\top x$ 写法的对照

源文档 2.1 节写 $h = \sigma(W^\top x + b)$，3.1 节写 $h^{(l+1)} = \sigma(W^{(l+1)} h^{(l)} + b^{(l+1)})$。两处都只说"$W$ 为权重矩阵"，**其实是两个互为转置的矩阵**：

| | 源文档 2.1 节 | 源文档 3.1 节 / 本书 / PyTorch |
|---|---|---|
| 公式 | $h = \sigma(W_{2.1}^\top x + b)$ | $h^{(l+1)} = \sigma(W^{(l+1)} h^{(l)} + b^{(l+1)})$ |
| 权重形状（$n$ 个输入、$m$ 个输出） | $n \times m$：每**列**是一个神经元的权重 | $m \times n$：每**行**是一个神经元的权重 |
| 关系 | $W_{2.1} = (W^{(l+1)})^\top$ | `nn.Linear(n, m).weight` 的形状是 `(m, n)` |

两种写法算出的 $h$ 完全相同（$W_{2.1}^\top x = W^{(l+1)} x$）。本书从 3.1 节起只用右栏的写法，因为它与 PyTorch 的 `weight` 布局一致，
而且第 3.2 节的 $\partial J / \partial W^{(l)} = \delta^{(l)} (h^{(l-1)})^\top$ 恰好是 $n_l \times n_{l-1}$，与 $W^{(l)}$ 同形。

下面搭一个识别手写数字的网络 $64 \to 32 \to 16 \to 10$（输入是 $8 \times 8$ 的图像，输出是 10 个类别的得分），逐层打印形状：
"""),
    code(r"""
sizes = [64, 32, 16, 10]                      # n_0, n_1, n_2, n_3
nnlib.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 32), nn.Sigmoid(),
                      nn.Linear(32, 16), nn.Sigmoid(),
                      nn.Linear(16, 10)).double()
for l, layer in enumerate([m for m in model if isinstance(m, nn.Linear)], start=1):
    print(f"W({l}): {layer.weight.shape}  = (n_{l}, n_{l - 1})     b({l}): {layer.bias.shape}")
print("参数总数 P =", sum(p.numel() for p in model.parameters()))
""", tags=[CHECK]),
    md(r"""
参数总数 $P = \sum_{l=1}^{L} n_l (n_{l-1} + 1) = 32 \cdot 65 + 16 \cdot 33 + 10 \cdot 17 = 2778$：每层 $n_l n_{l-1}$ 个权重加 $n_l$ 个偏置。第 3.2 节会看到，$P$ 决定了"逐个参数做数值微分"有多贵。
"""),
]

# ---------------------------------------------------------------------------------------- 3.1.3
cells += [
    md(r"""
## 3.1.3 批量形式：一次算 $N$ 个样本

训练时一次送进 $N$ 个样本。与 PyTorch 一样，把它们按**行**堆成矩阵：第 $n$ 行是第 $n$ 个样本（的转置）。

$$
H^{(l)} = \begin{bmatrix} (h^{(l)}_1)^\top \\ \vdots \\ (h^{(l)}_N)^\top \end{bmatrix} \in \mathbb{R}^{N \times n_l},
\qquad H^{(0)} = X \in \mathbb{R}^{N \times n_0}.
$$

对第 $n$ 个样本，$z^{(l+1)}_n = W^{(l+1)} h^{(l)}_n + b^{(l+1)}$；两边转置得 $(z^{(l+1)}_n)^\top = (h^{(l)}_n)^\top (W^{(l+1)})^\top + (b^{(l+1)})^\top$。把 $N$ 行叠起来：

$$
Z^{(l+1)} = H^{(l)} \left(W^{(l+1)}\right)^\top + \mathbf{1}_N \left(b^{(l+1)}\right)^\top \in \mathbb{R}^{N \times n_{l+1}}, \qquad
H^{(l+1)} = \sigma\!\left(Z^{(l+1)}\right),
$$

其中 $\mathbf{1}_N \in \mathbb{R}^{N}$ 是全 1 向量，$\mathbf{1}_N (b^{(l+1)})^\top$ 把偏置行向量复制 $N$ 行——NumPy 和 PyTorch 的**广播**自动完成这一步，代码里只写 `+ b`。
形状检查：$(N \times n_l)(n_l \times n_{l+1}) = N \times n_{l+1}$。

为什么要按批量算？一次矩阵–矩阵乘法 $H W^\top$ 与 $N$ 次矩阵–向量乘法 $W h_n$ 的乘法次数完全相同（都是 $N n_l n_{l+1}$ 次乘加），
但前者能让底层的线性代数库（BLAS）成块地读写内存、并行计算，在 CPU 和 GPU 上都快得多。下面直接比较两种写法的结果和耗时（耗时因机器而异，只看量级）：
"""),
    code(r"""
digits = load_digits()
X_all = digits.data / 16.0                    # (1797, 64)，像素从 0–16 缩放到 0–1
y_all = digits.target.astype(np.int64)        # (1797,)，类别 0–9
X, y = X_all[:256], y_all[:256]               # 一个批量：N = 256

W1, b1 = model[0].weight.data, model[0].bias.data
Z_batch = X @ W1.T + b1                                       # 批量形式：一次矩阵乘法
Z_loop = np.stack([W1 @ X[n] + b1 for n in range(len(X))])    # 逐个样本：N 次矩阵–向量乘法
print("X:", X.shape, " W(1):", W1.shape, " Z(1):", Z_batch.shape)
print("两种写法的结果一致:", np.allclose(Z_batch, Z_loop, rtol=0, atol=1e-12))
""", tags=[CHECK]),
    code(r"""
import timeit

t_batch = min(timeit.repeat(lambda: X @ W1.T + b1, number=200, repeat=3)) / 200
t_loop = min(timeit.repeat(lambda: np.stack([W1 @ X[n] + b1 for n in range(len(X))]), number=20, repeat=3)) / 20
print(f"批量形式 {t_batch * 1e6:.0f} µs，逐样本循环 {t_loop * 1e6:.0f} µs：约 {t_loop / t_batch:.0f} 倍")
"""),
]

# ---------------------------------------------------------------------------------------- 3.1.4
cells += [
    md(r"""
## 3.1.4 计算图

把前向传播拆成最基本的运算，画成一张有向图：**椭圆**是数据（输入、中间结果、参数），**方框**是运算，箭头表示"谁是谁的输入"。
这就是**计算图**（computational graph）。下图是一个两层网络（一个隐藏层）加上交叉熵损失：
"""),
    code(r"""
from matplotlib.patches import Ellipse, FancyBboxPatch

fig, ax = plt.subplots(figsize=(15, 4.6))
ax.set_xlim(0, 15)
ax.set_ylim(-0.6, 4.2)
ax.axis("off")


def data_node(x, y, label, shape, color="#dbe9f6", width=1.25):
    ax.add_patch(Ellipse((x, y), width, 0.72, facecolor=color, edgecolor="#1f4e79", lw=1.3))
    ax.text(x, y, label, ha="center", va="center", fontsize=13)
    if shape:
        ax.text(x, y - 0.52, shape, ha="center", va="top", fontsize=9, color="#555")


def op_node(x, y, label):
    ax.add_patch(FancyBboxPatch((x - 0.55, y - 0.3), 1.1, 0.6, boxstyle="round,pad=0.05",
                                facecolor="#fde9cf", edgecolor="#b35c00", lw=1.3))
    ax.text(x, y, label, ha="center", va="center", fontsize=11)


def arrow(x0, y0, x1, y1, **kw):
    style = dict(arrowstyle="-|>", color="k", lw=1.2, shrinkA=20, shrinkB=20)
    style.update(kw)
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=style)


row = 1.6
data_node(0.9, row, r"$x = h^{(0)}$", r"$n_0$", width=1.6)
op_node(2.7, row, "仿射\n" + r"$W h + b$")
data_node(4.4, row, r"$z^{(1)}$", r"$n_1$")
op_node(6.0, row, r"$\sigma$")
data_node(7.6, row, r"$h^{(1)}$", r"$n_1$")
op_node(9.3, row, "仿射\n" + r"$W h + b$")
data_node(11.0, row, r"$z^{(2)}$", r"$n_2$（得分）")
op_node(12.6, row, "softmax\n+ 交叉熵")
data_node(14.2, row, r"$J$", "标量", color="#f8d7da")
for x0, x1 in [(0.9, 2.7), (2.7, 4.4), (4.4, 6.0), (6.0, 7.6), (7.6, 9.3), (9.3, 11.0), (11.0, 12.6), (12.6, 14.2)]:
    arrow(x0, row, x1, row)
# 参数与标签：从上方、下方进入运算
for x, lab, shp in [(1.9, r"$W^{(1)}$", r"$n_1 \times n_0$"), (3.5, r"$b^{(1)}$", r"$n_1$"),
                    (8.5, r"$W^{(2)}$", r"$n_2 \times n_1$"), (10.1, r"$b^{(2)}$", r"$n_2$")]:
    data_node(x, 3.45, lab, None, color="#e2f0d9")
    ax.text(x, 3.93, shp, ha="center", va="bottom", fontsize=9, color="#555")
    arrow(x, 3.45, 2.7 if x < 5 else 9.3, row, shrinkA=16, shrinkB=16)
data_node(12.6, 0.05, r"$y$", None, color="#e2f0d9")
ax.text(13.35, 0.05, "标签", ha="left", va="center", fontsize=9, color="#555")
arrow(12.6, 0.05, 12.6, row, shrinkA=14, shrinkB=14)
# 反向传播的方向（3.2 节）
ax.annotate("", xy=(1.2, 0.45), xytext=(11.6, 0.45),
            arrowprops=dict(arrowstyle="-|>", color="#c00000", lw=1.6, ls="--"))
ax.text(6.4, 0.2, "反向传播（3.2 节）：梯度沿相反方向流回每个参数", color="#c00000", ha="center", va="top", fontsize=11)
ax.set_title("两层网络的计算图：蓝色是中间结果，绿色是参数和标签，橙色方框是运算；小字是各量的维数", fontsize=12)
plt.show()
"""),
    md(r"""
从图上可以读出前向传播的三个事实，它们在 3.2 节都会用到：

1. **计算顺序**是图的一个拓扑顺序：每个运算都要等它的输入算好。对多层感知机，这就是从左到右的一条链，代码里就是一个 `for` 循环。
2. **每个参数只通过一个运算影响 $J$**：$W^{(1)}$ 只进入第一个仿射运算。所以 $\partial J / \partial W^{(1)}$ 只需要知道 $J$ 对这个运算的输出 $z^{(1)}$ 的梯度——这就是 3.2 节的 $\delta^{(1)}$。
3. **反向传播要用到前向的中间结果**：算 $\sigma'(z^{(1)})$ 需要 $z^{(1)}$，算 $\partial J / \partial W^{(2)}$ 需要 $h^{(1)}$。所以前向传播时要把它们存下来（代价是内存）。

nnlib 的 `Sequential.forward` 正是第 1 点的 `for` 循环，而每一层的 `forward` 用 `save_for_backward` 存下第 3 点需要的东西。看真实的源代码：
"""),
    code(r"""
print(inspect.getsource(nn.Sequential.forward))
print(inspect.getsource(nn.Sigmoid.forward))
"""),
    md(r"""
注意 `Sigmoid` 存下的是它的**输出** $h = \sigma(z)$ 而不是 $z$：sigmoid 的导数 $\sigma'(z) = \sigma(z)(1 - \sigma(z)) = h(1 - h)$ 可以直接由 $h$ 算出，存一个数组就够了。
（它的前向计算也只求 $e^{-|z|}$，所以 $|z|$ 很大时不会溢出。）
"""),
]

# ---------------------------------------------------------------------------------------- 3.1.5
cells += [
    md(r"""
## 3.1.5 从零实现，再与 nnlib、PyTorch 对照

**损失。** 对 $C$ 类分类，输出层给出得分 $z^{(L)}_n \in \mathbb{R}^{C}$，softmax 把它变成概率 $p_n = \operatorname{softmax}(z^{(L)}_n)$，其中 $p_{nc} = e^{z_{nc}} / \sum_{k} e^{z_{nk}}$；
**交叉熵损失**是正确类别概率的负对数，对批量取平均：

$$
J = -\frac{1}{N} \sum_{n=1}^{N} \log p_{n, y_n} = \frac{1}{N} \sum_{n=1}^{N} \Bigl( \log \sum_{c=1}^{C} e^{z_{nc}} - z_{n, y_n} \Bigr),
$$

其中 $y_n \in \{0, \dots, C-1\}$ 是第 $n$ 个样本的类别。直接算 $e^{z}$ 在 $z$ 很大时会溢出；因为 softmax 对每行减去同一个常数不变，实际计算时先减去每行的最大值（练习 3）。

下面用 NumPy 从零写出 $64 \to 32 \to 16 \to 10$ 网络的前向传播（隐藏层用 sigmoid），**参数直接取自上面的 nnlib 模型**，再让 nnlib 和 PyTorch 各算一遍：
"""),
    code(r"""
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(X, params):
    # params = [(W1, b1), ..., (WL, bL)]；返回得分 Z(L) 和每层的 (Z, H)，供 3.2 节的反向传播使用
    H, cache = X, []
    for l, (W, b) in enumerate(params, start=1):
        Z = H @ W.T + b                                  # Z(l) = H(l-1) W(l)ᵀ + 1 b(l)ᵀ
        H = sigmoid(Z) if l < len(params) else Z         # 输出层不加激活函数
        cache.append((Z, H))
    return H, cache


def cross_entropy(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)          # 每行减去最大值：数值稳定
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


params = [(m.weight.data, m.bias.data) for m in model if isinstance(m, nn.Linear)]
logits, cache = forward(X, params)
J = cross_entropy(logits, y)
for l, (Z, H) in enumerate(cache, start=1):
    print(f"第 {l} 层: Z({l}) {Z.shape}, H({l}) {H.shape}")
print(f"损失 J = {J:.4f}；对照：10 类的概率都是 1/10 时，损失为 ln 10 = {np.log(10):.4f}")
""", tags=[CHECK]),
    md(r"""
未经训练的网络损失约为 $\ln 10 \approx 2.30$：输出几乎不区分各类时，每类概率约 $1/10$，$-\log(1/10) = \ln 10$。这是一个实用的检查——**如果一个刚初始化的 $C$ 类分类网络的损失离 $\ln C$ 很远，很可能是实现有误**（或初始化太大）。

现在把同一组参数装进 PyTorch 的网络（两个库的 `state_dict` 键相同），三方比较得分和损失：
"""),
    code(r"""
torch_model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Sigmoid(),
                                  torch.nn.Linear(32, 16), torch.nn.Sigmoid(),
                                  torch.nn.Linear(16, 10)).double()
torch_model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model.state_dict().items()})

criterion = nn.CrossEntropyLoss()
with torch.no_grad():
    t_logits = torch_model(torch.from_numpy(X))
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.from_numpy(y))
outputs = {
    "从零实现": {"得分 Z(3)": logits, "损失 J": np.array(J)},
    "nnlib": {"得分 Z(3)": model(X), "损失 J": np.array(float(criterion(model(X), y)))},
    "PyTorch": {"得分 Z(3)": t_logits.numpy(), "损失 J": np.array(t_loss.item())},
}
table = nnlib.gradcheck.compare(outputs, rtol=1e-12, atol=1e-12, what="output")
table
"""),
    code(r"""
print("三方在 1e-12 以内一致:", table.passed)
print(f"nnlib 的损失 {float(criterion(model(X), y)):.4f}，PyTorch 的损失 {t_loss.item():.4f}")
""", tags=[CHECK]),
    md(r"""
`compare` 主要用于比较梯度（3.2 节），这里用它比较前向的结果（`what="output"` 只改表头第一列的名字）。"exact" 一列说明两边是否逐位相同：nnlib 与我们的 NumPy 代码做的是同样的浮点运算；PyTorch 用自己的矩阵乘法内核，求和顺序不同，可能差几个 $10^{-16}$，这是舍入误差。
"""),
]

# ---------------------------------------------------------------------------------------- 3.1.6
cells += [
    md(r"""
## 3.1.6 信号逐层传播时会发生什么

前向传播是一连串"乘矩阵、过激活函数"。层数一多，每层对信号大小的影响就会**连乘**起来。先算一层的净输入有多大：
设权重 $W_{ij}$ 相互独立、均值为 0、方差为 $s^2$，并与本层的输入 $h = h^{(l-1)}$ 独立。$z_i = \sum_j W_{ij} h_j + b_i$ 中每一项 $W_{ij} h_j$ 的均值都是 0、方差是 $\operatorname{E}[W_{ij}^2]\operatorname{E}[h_j^2] = s^2 \operatorname{E}[h_j^2]$，所以

$$
\operatorname{Var}(z_i) = n_{l-1}\, s^2\, \operatorname{E}[h^2] + \operatorname{Var}(b_i), \qquad \operatorname{E}[h^2] = \operatorname{Var}(h) + \bigl(\operatorname{E}[h]\bigr)^2 .
$$

这里出现的是 $\operatorname{E}[h^2]$，而不是 $\operatorname{Var}(h)$：sigmoid 的输出都是正数，均值约为 0.5，$\operatorname{E}[h^2]$ 的大部分来自均值。

用 10 个宽度为 64 的隐藏层，对同一批数字图像做前向传播，看不同输入之间的差别能否一层层传下去。比较三种设定：

- **sigmoid + 朴素初始化** $W_{ij} \sim \mathcal{N}(0, 1)$：$s^2 = 1$，$\operatorname{Var}(z) \approx 64\, \operatorname{E}[h^2] \gg 1$，sigmoid 被推到两端的饱和区；
- **sigmoid + PyTorch 默认初始化** $W_{ij} \sim U(-1/\sqrt{n_{l-1}}, 1/\sqrt{n_{l-1}})$：$s^2 = 1/(3 n_{l-1})$；
- **ReLU + He 初始化** $W_{ij} \sim \mathcal{N}(0, 2/n_{l-1})$ {cite}`he2015delving`：$z$ 关于 0 对称时，ReLU 把一半的输入置零，$\operatorname{E}[h^2] = \frac{1}{2}\operatorname{Var}(z)$；
  于是（忽略很小的偏置）$\operatorname{Var}(z^{(l+1)}) = n_l \cdot \frac{2}{n_l} \cdot \frac{1}{2}\operatorname{Var}(z^{(l)}) = \operatorname{Var}(z^{(l)})$，信号的大小逐层保持不变。
"""),
    code(r"""
def deep_mlp(activation, init, depth=10, width=64):
    nnlib.manual_seed(0)
    layers, n_in = [], 64
    for _ in range(depth):
        linear = nn.Linear(n_in, width)
        if init == "naive":
            nn.init.normal_(linear.weight, 0.0, 1.0)
        elif init == "he":
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        layers += [linear, activation()]
        n_in = width
    return nn.Sequential(*layers, nn.Linear(width, 10)).double()


settings = {"sigmoid + 朴素 N(0,1)": (nn.Sigmoid, "naive"),
            "sigmoid + PyTorch 默认": (nn.Sigmoid, "pytorch"),
            "ReLU + He": (nn.ReLU, "he")}
spread, saturated = {}, {}
for name, (act, init) in settings.items():
    net = deep_mlp(act, init)
    H = [net[:2 * l](X) for l in range(1, 11)]                    # 第 l 个隐藏层的输出，形状 (256, 64)
    spread[name] = [float(h.std(axis=0).mean()) for h in H]       # 每个单元在不同样本间的标准差，再对单元平均
    saturated[name] = [float(np.mean((h < 0.01) | (h > 0.99))) for h in H]

print("不同输入在第 l 个隐藏层的差别（样本间标准差，l = 1, ..., 10）：")
for name, s in spread.items():
    print(f"  {name:<22}", " ".join(f"{v:.0e}" for v in s))
print("sigmoid + 朴素初始化：输出落在饱和区 (0, 0.01) ∪ (0.99, 1) 的比例：")
print("  ", " ".join(f"{v:.2f}" for v in saturated["sigmoid + 朴素 N(0,1)"]))
""", tags=[CHECK]),
    md(r"""
朴素初始化下净输入到底有多大？对同一个网络逐层测量 $z^{(l)}$ 的标准差（对全部样本和单元），并与上面公式的两种写法比较：
"""),
    code(r"""
naive = deep_mlp(nn.Sigmoid, "naive")
Z = [naive[:2 * l - 1](X) for l in range(1, 11)]                  # z(l)：第 l 层的净输入
inputs = [X] + [naive[:2 * l](X) for l in range(1, 10)]           # h(l-1)：第 l 层的输入
n = 64                                                            # 每层的输入个数 n_{l-1}
print("sigmoid + 朴素初始化，第 l 层净输入的标准差（l = 1, ..., 10）：")
print("  实测 std(z)        ", " ".join(f"{z.std():.1f}" for z in Z))
print("  估计 √(n·E[h²])    ", " ".join(f"{np.sqrt(n * np.mean(h**2)):.1f}" for h in inputs))
print("  误用 √(n·Var(h))   ", " ".join(f"{np.sqrt(n * h.var()):.1f}" for h in inputs))
""", tags=[CHECK]),
    code(r"""
fig, ax = plt.subplots(figsize=(7, 4))
for name, s in spread.items():
    ax.plot(range(1, 11), s, "o-", label=name)
ax.set_yscale("log")
ax.set_xlabel("隐藏层 l")
ax.set_ylabel("不同输入的输出之差（样本间标准差）")
ax.set_title("10 层网络：输入之间的差别能否传到深层")
ax.legend()
plt.show()
"""),
    md(r"""
这里度量的是**不同输入在第 $l$ 层的输出相差多少**：对每个单元，算它在 256 个样本上的标准差，再对 64 个单元取平均。如果它趋于 0，深层就"看不出"输入之间的区别了。

- **sigmoid + PyTorch 默认初始化**：差别每层缩小约一个数量级，第 4 层约为 $10^{-4}$，第 10 层已不到 $10^{-9}$——所有输入在深层得到几乎相同的输出，网络无论输入什么都给出同一个答案。原因是每层的权重很小（$|W_{ij}| \le 1/8$），sigmoid 在 0 附近的斜率只有 $1/4$，每过一层差别都被乘上一个小于 1 的因子。
- **sigmoid + 朴素初始化**：权重太大，净输入的标准差实测在 4 到 6.5 之间，与估计 $\sqrt{n\, \operatorname{E}[h^2]}$ 相差不到两成；误用 $\operatorname{Var}(h)$ 的估计只有 3 左右，明显偏小。约三到五成的单元落在饱和区（第一个代码格的最后一行），差别也在逐层缩小。饱和区里 $\sigma'(z) \approx 0$，3.2 节会看到梯度几乎传不过这样的层。
- **ReLU + He 初始化**：差别在 10 层中保持在同一量级，信号既不消失也不爆炸。练习 1 对 LeakyReLU 做同样的推导。

前向信号的大小与反向梯度的大小是同一个问题的两个方面（反向传播用的是同一组 $W^{(l)}$ 的转置和 $\sigma'$），3.2.5 节会用梯度流仪表盘观察梯度这一面。
"""),
]

# ---------------------------------------------------------------------------------------- 小结与练习
cells += [
    md(r"""
## 小结

- 前向传播：$h^{(0)} = x$，$z^{(l)} = W^{(l)} h^{(l-1)} + b^{(l)}$，$h^{(l)} = \sigma(z^{(l)})$，输出层通常不加激活函数；$W^{(l)} \in \mathbb{R}^{n_l \times n_{l-1}}$，与 PyTorch 的 `weight` 同形，是源文档 2.1 节 $W$ 的转置。
- 批量按行存放：$Z^{(l)} = H^{(l-1)} (W^{(l)})^\top + \mathbf{1}_N (b^{(l)})^\top$，代码是 `H @ W.T + b`。
- 计算图规定了计算顺序，也告诉我们反向传播需要保存哪些中间结果。
- 前向传播的最后一步是损失；刚初始化的 $C$ 类分类网络，交叉熵应接近 $\ln C$。
- 信号逐层连乘：初始化和激活函数决定它是饱和、消失，还是保持稳定。

## 练习

做法与前两章相同：把 `raise NotImplementedError` 换成你的答案并运行，再运行下面的自检格。
"""),
    code(CHECK_HELPER),
]

cells += ex.add(
    "保持方差的初始化：LeakyReLU",
    r"""
3.1.6 节推出 $\operatorname{Var}(z^{(l+1)}) = n_l\, s^2\, \operatorname{E}\bigl[(h^{(l)})^2\bigr]$（忽略偏置），再由 ReLU 的 $\operatorname{E}[h^2] = \frac{1}{2}\operatorname{Var}(z)$ 得到 He 初始化 $s^2 = 2/n_l$。
负半轴斜率为 $a$ 的 LeakyReLU 在 $z > 0$ 时输出 $h = z$，否则输出 $h = a z$（$a = 0$ 就是 ReLU，$a = 1$ 是恒等函数）。
设 $z$ 的分布关于 0 对称，推导使净输入的方差逐层不变的权重标准差 $s$，写成函数 `leaky_relu_init_std(n_in, a)`（`n_in` 是该层的输入个数）。

自检直接测量：对方差为 1 的净输入 $z$，用你的 $s$ 初始化 200 个互相独立的 $64 \to 64$ 层（无偏置），算出下一层净输入的方差，$a = 0, 0.2, 0.5, 1$ 各测一次。
""",
    r"""
def leaky_relu_init_std(n_in, a):
    raise NotImplementedError
""",
    r"""
def test_leaky_relu_init_std():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((256, 64))                           # 本层的净输入：256 个样本，均值 0、方差 1
    for a in (0.0, 0.2, 0.5, 1.0):
        nnlib.manual_seed(1)
        layers = nn.Linear(64, 64 * 200, bias=False).double()   # 200 个互相独立的 64 → 64 层并排放在一起
        nn.init.normal_(layers.weight, 0.0, float(leaky_relu_init_std(64, a)))
        factor = float(np.var(layers(nn.LeakyReLU(a)(z))) / np.var(z))
        if abs(factor - 1) > 0.05:
            return False, (f"a = {a}：下一层净输入的方差是本层的 {factor:.2f} 倍，应约为 1（10 层以后就是 {factor**10:.3g} 倍）。"
                           "提示：把 E[h²] 按 z > 0 与 z < 0 拆成两半来算。")
    return True, ""


check_answer("练习 1", test_leaky_relu_init_std)
""",
    r"""
def leaky_relu_init_std(n_in, a):
    # E[h²] = (1 + a²)/2 · Var(z)；要 n_in · s² · (1 + a²)/2 = 1
    return np.sqrt(2.0 / ((1.0 + a**2) * n_in))
""",
    r"""
$z$ 关于 0 对称时，$z > 0$ 与 $z < 0$ 两部分各贡献 $\operatorname{E}[z^2]$ 的一半，所以
$\operatorname{E}[h^2] = \operatorname{E}[z^2; z > 0] + a^2\, \operatorname{E}[z^2; z < 0] = \frac{1 + a^2}{2} \operatorname{Var}(z)$。
代入 $\operatorname{Var}(z^{(l+1)}) = n_l\, s^2\, \operatorname{E}[h^2] = \operatorname{Var}(z^{(l)})$，得 $s^2 = \dfrac{2}{(1 + a^2)\, n_l}$。
$a = 0$ 回到 He 初始化 $2/n_l$；$a = 1$（线性网络）得 $1/n_l$。PyTorch 和 nnlib 的 `kaiming_normal_(w, a=a, nonlinearity="leaky_relu")` 用的正是这个标准差：增益 $\sqrt{2/(1 + a^2)}$ 除以 $\sqrt{n_l}$。
若对 $a = 0.5$ 仍用 He 初始化，每层的方差都放大到 $1 + a^2 = 1.25$ 倍，层数一多就连乘成爆炸（自检的提示会算出 10 层后的倍数）。
""",
)

cells += ex.add(
    "单个样本的列向量写法",
    r"""
3.1.5 节的 `forward` 用的是批量（按行）形式。请用源文档的**列向量**写法实现单个样本的前向传播 `forward_one(x, params)`：
`x` 形状 `(n_0,)`，逐层计算 $z = W h + b$、$h = \sigma(z)$（sigmoid，最后一层不加），返回得分向量 $z^{(L)}$，形状 `(n_L,)`。
自检会把它与批量形式 `forward(X, params)` 的每一行比较。
""",
    r"""
def forward_one(x, params):
    raise NotImplementedError
""",
    r"""
def test_forward_one():
    Z_batch, _ = forward(X[:5], params)
    for n in range(5):
        got = np.asarray(forward_one(X[n], params))
        if got.shape != (10,):
            return False, f"输出形状应为 (10,)，你的是 {got.shape}。列向量写法是 W @ h + b。"
        if not np.allclose(got, Z_batch[n], atol=1e-12):
            return False, f"第 {n} 个样本与批量形式不一致。最后一层不要加 sigmoid。"
    return True, ""


check_answer("练习 2", test_forward_one)
""",
    r"""
def forward_one(x, params):
    h = x
    for l, (W, b) in enumerate(params, start=1):
        z = W @ h + b                      # z(l) = W(l) h(l-1) + b(l)，W(l) 形状 (n_l, n_{l-1})
        h = sigmoid(z) if l < len(params) else z
    return h
""",
    r"""
列向量写法 `W @ h + b` 与批量写法 `H @ W.T + b` 的第 $n$ 行互为转置：$(W h_n + b)^\top = h_n^\top W^\top + b^\top$。
""",
)

cells += ex.add(
    "数值稳定的 softmax",
    r"""
直接计算 $e^{z_c} / \sum_k e^{z_k}$，当得分很大时（如 $z = (1000, 1001, 1002)$）$e^{1000}$ 会溢出成 `inf`，结果变成 `nan`。
利用 $\operatorname{softmax}(z) = \operatorname{softmax}(z - a)$（对任意常数 $a$ 成立）实现一个不会溢出的 `softmax(Z)`：`Z` 形状 `(N, C)`，对每一行做 softmax。
""",
    r"""
def softmax(Z):
    raise NotImplementedError
""",
    r"""
def test_softmax():
    Z = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -999.0], [0.0, 1.0, 2.0]])
    P = np.asarray(softmax(Z))
    ref = torch.softmax(torch.from_numpy(Z), dim=1).numpy()
    if P.shape != Z.shape or not np.all(np.isfinite(P)):
        return False, "结果里有 inf/nan 或形状不对。先从每行减去该行的最大值。"
    return np.allclose(P, ref, atol=1e-12), "数值与 torch.softmax 不一致。记得对每一行（axis=1）单独归一化。"


check_answer("练习 3", test_softmax)
""",
    r"""
def softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))   # 每行的最大值变成 0，指数不超过 1
    return E / E.sum(axis=1, keepdims=True)
""",
    r"""
$\dfrac{e^{z_c - a}}{\sum_k e^{z_k - a}} = \dfrac{e^{-a} e^{z_c}}{e^{-a} \sum_k e^{z_k}}$，所以减去任何常数都不改变结果。取 $a = \max_k z_k$ 后，所有指数都 $\le 0$，$e^{\cdot} \le 1$ 不会溢出，
而且分母至少有一项等于 1，不会下溢成 0。nnlib 的 `CrossEntropyLoss` 也是这样做的（它直接算 log-softmax）。
""",
)

cells += ex.add(
    "前向传播的乘法次数",
    r"""
写函数 `forward_multiplies(sizes, N)`：一批 $N$ 个样本通过各层单元数为 `sizes` 的多层感知机时，所有矩阵乘法 $H^{(l-1)} (W^{(l)})^\top$ 一共做多少次标量乘法？
（只数矩阵乘法，不数偏置和激活函数。）3.2 节会用同样的方法数反向传播的代价。
""",
    r"""
def forward_multiplies(sizes, N):
    raise NotImplementedError
""",
    r"""
def test_forward_multiplies():
    cases = {((64, 32, 16, 10), 256): 256 * (64 * 32 + 32 * 16 + 16 * 10), ((3, 4, 2), 5): 5 * (12 + 8), ((10, 1), 1): 10}
    for (s, n), truth in cases.items():
        got = forward_multiplies(list(s), n)
        if got != truth:
            return False, f"sizes = {list(s)}, N = {n}：应为 {truth}，你的是 {got}。(N×a)(a×b) 的矩阵乘法要做 N·a·b 次乘法。"
    return True, ""


check_answer("练习 4", test_forward_multiplies)
""",
    r"""
def forward_multiplies(sizes, N):
    return sum(N * a * b for a, b in zip(sizes[:-1], sizes[1:]))
""",
    r"""
$(N \times n_{l-1})$ 矩阵乘 $(n_{l-1} \times n_l)$ 矩阵，结果有 $N n_l$ 个元素，每个是长度 $n_{l-1}$ 的内积，共 $N n_{l-1} n_l$ 次乘法。
总数 $N \sum_l n_{l-1} n_l$ 几乎就是 $N$ 乘以权重个数——前向传播的代价与参数个数成正比。
""",
)

cells += ex.verification_cells()

if __name__ == "__main__":
    build("ch03_1_forward", cells)
