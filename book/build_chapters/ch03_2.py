"""3.2 反向传播 → chapters/ch03_2_backprop.ipynb  (run: .venv/bin/python book/build_chapters/ch03_2.py)"""

from nbgen import CHECK, CHECK_HELPER, Exercises, build, code, md

ex = Exercises()
cells = []

# ---------------------------------------------------------------------------------------- 导言
cells += [
    md(r"""
# 3.2 反向传播

3.1 节把网络写成了从参数 $\theta = \{W^{(l)}, b^{(l)}\}_{l=1}^{L}$ 到标量损失 $J$ 的函数。训练需要 $J$ 对**每一个**参数的偏导数。
**反向传播**（backpropagation）用链式法则把它们一次算完，代价只相当于两三次前向传播 {cite}`rumelhart1986learning`。

源文档把反向传播描述为"将梯度沿着网络的连接逆向传播，更新各层的参数"。这里要分清两件事：反向传播**只负责计算梯度**；
拿梯度去**更新**参数是优化算法的工作（3.3 节）。两者在代码里也是分开的：`model.backward(...)` 把梯度写进每个参数的 `.grad`，`optimizer.step()` 再读取它们。

本节的路线：先在单个样本上从链式法则推出源文档的三个公式（并补上它没有写出的起点 $\delta^{(L)}$），再推出批量形式；
用十几行 NumPy 实现它，与 nnlib 的中心差分和 PyTorch 的自动微分三方对照；然后数一数它比数值微分省多少计算；
最后用梯度流仪表盘观察深层网络里的**梯度消失**，并用 `DivergenceGuard` 抓住一次发散的训练。
"""),
    code(r"""
import inspect
import time

import numpy as np
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from sklearn.datasets import load_digits

import nnlib
from nnlib import nn
from nnlib.diagnostics import DivergenceGuard
from nnlib.errors import DivergenceError
from nnlib.widgets import GradientFlowDashboard
"""),
]

# ---------------------------------------------------------------------------------------- 3.2.1
cells += [
    md(r"""
## 3.2.1 从链式法则推导（单个样本）

沿用 3.1 节的记号：$h^{(0)} = x$；对 $l = 1, \dots, L$，$z^{(l)} = W^{(l)} h^{(l-1)} + b^{(l)}$；隐藏层 $h^{(l)} = \sigma(z^{(l)})$，输出层不加激活函数，得分就是 $z^{(L)}$；
最后 $J = \ell(z^{(L)}, y)$ 是一个标量。约定：**标量对矩阵（或向量）的梯度与该矩阵同形**，例如 $\partial J / \partial W^{(l)} \in \mathbb{R}^{n_l \times n_{l-1}}$，它的 $(i, j)$ 元素是 $\partial J / \partial W^{(l)}_{ij}$。

**误差项。** 定义第 $l$ 层的误差项为损失对该层**净输入**的梯度：

$$
\delta^{(l)} = \frac{\partial J}{\partial z^{(l)}} \in \mathbb{R}^{n_l}, \qquad \delta^{(l)}_i = \frac{\partial J}{\partial z^{(l)}_i}.
$$

源文档称 $\delta^{(l)}$ 为"误差项"，但没有说它是对哪个量的梯度；它是对 $z^{(l)}$（激活之前）的，而不是对 $h^{(l)}$ 的。下面四步推出全部公式。

**第 1 步：误差项的递推。** $J$ 只通过 $z^{(l+1)}$ 依赖 $h^{(l)}$，而 $z^{(l+1)}_i = \sum_j W^{(l+1)}_{ij} h^{(l)}_j + b^{(l+1)}_i$，所以 $\partial z^{(l+1)}_i / \partial h^{(l)}_j = W^{(l+1)}_{ij}$。由链式法则：

$$
\frac{\partial J}{\partial h^{(l)}_j} = \sum_{i=1}^{n_{l+1}} \frac{\partial J}{\partial z^{(l+1)}_i} \frac{\partial z^{(l+1)}_i}{\partial h^{(l)}_j}
= \sum_{i} \delta^{(l+1)}_i W^{(l+1)}_{ij} = \Bigl( (W^{(l+1)})^\top \delta^{(l+1)} \Bigr)_j .
$$

再往回一步：$h^{(l)}_j = \sigma(z^{(l)}_j)$ 只依赖 $z^{(l)}_j$ 一个分量，$\partial h^{(l)}_j / \partial z^{(l)}_j = \sigma'(z^{(l)}_j)$，所以

$$
\boxed{\;\delta^{(l)} = \sigma'\!\left(z^{(l)}\right) \odot (W^{(l+1)})^\top \delta^{(l+1)}\;}, \qquad l = L-1, \dots, 1 .
$$

形状：$(W^{(l+1)})^\top \in \mathbb{R}^{n_l \times n_{l+1}}$ 乘 $\delta^{(l+1)} \in \mathbb{R}^{n_{l+1}}$ 得 $\mathbb{R}^{n_l}$，再与 $\sigma'(z^{(l)}) \in \mathbb{R}^{n_l}$ 逐元素相乘。
源文档把第一个因子写成 $(\sigma')^{(l)}$，没有说在哪里求导。**它是激活函数的导数在本层净输入 $z^{(l)}$ 处的值**，逐元素作用，是一个 $n_l$ 维向量。
不要误写成 $\sigma'(h^{(l)})$：对 sigmoid，$\sigma'(z) = \sigma(z)(1 - \sigma(z)) = h(1 - h)$ 可以**用** $h$ 算，但 $\sigma'(h)$ 是另一个数（练习 1）。

**第 2 步：权重的梯度。** $W^{(l)}_{ij}$ 只出现在 $z^{(l)}_i$ 里，且 $\partial z^{(l)}_i / \partial W^{(l)}_{ij} = h^{(l-1)}_j$，所以 $\partial J / \partial W^{(l)}_{ij} = \delta^{(l)}_i h^{(l-1)}_j$，写成矩阵就是一个外积：

$$
\boxed{\;\frac{\partial J}{\partial W^{(l)}} = \delta^{(l)} \left(h^{(l-1)}\right)^\top \in \mathbb{R}^{n_l \times n_{l-1}}\;}
$$

形状与 $W^{(l)}$ 相同——这正是 3.1 节采用"输出 × 输入"写法的好处。

**第 3 步：偏置的梯度。** $\partial z^{(l)}_i / \partial b^{(l)}_i = 1$，所以 $\boxed{\;\partial J / \partial b^{(l)} = \delta^{(l)}\;}$。

**第 4 步：起点 $\delta^{(L)}$。** 递推需要一个起点，源文档没有给出。输出层没有激活函数，$\delta^{(L)} = \partial J / \partial z^{(L)}$ 直接由损失函数决定。
对 softmax 加交叉熵，$J = \log \sum_{c} e^{z_c} - z_y$（$z = z^{(L)}$，$y$ 是正确类别），

$$
\frac{\partial J}{\partial z_c} = \frac{e^{z_c}}{\sum_{k} e^{z_k}} - [c = y] = p_c - [c = y], \qquad\text{即}\qquad \delta^{(L)} = p - e_y ,
$$

其中 $p = \operatorname{softmax}(z^{(L)})$，$e_y$ 是第 $y$ 个分量为 1 的独热向量：预测概率减去真实分布。

**算法。** 前向传播时保存每层的 $z^{(l)}$ 和 $h^{(l)}$；然后从 $\delta^{(L)}$ 出发，对 $l = L, L-1, \dots, 1$：用第 2、3 步得到本层的梯度，再用第 1 步得到 $\delta^{(l-1)}$（$l = 1$ 时不需要）。
每层只做两次矩阵–向量乘法和一次逐元素乘法，与前向传播同一量级。
"""),
]

# ---------------------------------------------------------------------------------------- 3.2.2
cells += [
    md(r"""
## 3.2.2 批量形式

一批 $N$ 个样本按行存放（3.1.3 节）：$H^{(l)} \in \mathbb{R}^{N \times n_l}$，$Z^{(l)} = H^{(l-1)} (W^{(l)})^\top + \mathbf{1}_N (b^{(l)})^\top$。
批量的损失是各样本损失的**平均** $J = \frac{1}{N} \sum_{n=1}^{N} J_n$。把第 $n$ 个样本对 $J$ 的误差项 $\partial J / \partial z^{(l)}_n$ 作为第 $n$ 行，排成

$$
\Delta^{(l)} = \frac{\partial J}{\partial Z^{(l)}} \in \mathbb{R}^{N \times n_l} .
$$

因为 $J$ 是平均，$\partial J / \partial z^{(L)}_n = \frac{1}{N} (p_n - e_{y_n})$：**$1/N$ 只在起点出现一次**，之后的递推都是线性的，会把它带到每一层。逐行转置单样本公式，得到：

$$
\Delta^{(L)} = \frac{1}{N}\bigl(P - Y\bigr), \qquad
\Delta^{(l)} = \sigma'\!\left(Z^{(l)}\right) \odot \left(\Delta^{(l+1)} W^{(l+1)}\right),
$$

$$
\frac{\partial J}{\partial W^{(l)}} = \sum_{n=1}^{N} \delta^{(l)}_n \left(h^{(l-1)}_n\right)^\top = \left(\Delta^{(l)}\right)^\top H^{(l-1)}, \qquad
\frac{\partial J}{\partial b^{(l)}} = \sum_{n=1}^{N} \delta^{(l)}_n = \left(\Delta^{(l)}\right)^\top \mathbf{1}_N ,
$$

其中 $P \in \mathbb{R}^{N \times C}$ 的第 $n$ 行是 $p_n^\top$，$Y \in \{0, 1\}^{N \times C}$ 的第 $n$ 行是独热向量 $e_{y_n}^\top$。
参数被批量里的每个样本共用，所以它的梯度是各样本贡献之**和**（平均的 $1/N$ 已经在 $\Delta^{(L)}$ 里）。形状检查：$(n_l \times N)(N \times n_{l-1}) = n_l \times n_{l-1}$。

nnlib 的 `Linear.backward` 正是按这三个公式计算（`grad_output` 就是 $\Delta^{(l)}$，`x` 是前向时保存的 $H^{(l-1)}$，返回值 $\Delta^{(l)} W^{(l)}$ 交给前一层的激活函数去乘 $\sigma'$）；
`CrossEntropyLoss.backward` 给出起点 $\Delta^{(L)} = (P - Y)/N$：
"""),
    code(r"""
print(inspect.getsource(nn.Linear.backward))
print(inspect.getsource(nn.CrossEntropyLoss.backward))
"""),
]

# ---------------------------------------------------------------------------------------- 3.2.3
cells += [
    md(r"""
## 3.2.3 从零实现，并用中心差分和 PyTorch 验证

下面的 `backprop` 就是上面公式的逐行翻译（前向部分与 3.1 节相同，只是把每层的 $Z^{(l)}$、$H^{(l)}$ 都存下来）。网络是 $64 \to 16 \to 12 \to 10$、sigmoid 隐藏层，
数据是 16 张手写数字图像；全部用 float64，因为中心差分需要双精度（见下文）。
"""),
    code(r"""
digits = load_digits()
X_all, y_all = digits.data / 16.0, digits.target.astype(np.int64)
X, y = X_all[:16], y_all[:16]                                   # N = 16

nnlib.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 16), nn.Sigmoid(), nn.Linear(16, 12), nn.Sigmoid(), nn.Linear(12, 10)).double()
params = [(m.weight.data, m.bias.data) for m in model if isinstance(m, nn.Linear)]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backprop(X, y, params):
    # 前向：保存 Z(l) 与 H(l)；H[0] = X
    Zs, Hs = [None], [X]
    for l, (W, b) in enumerate(params, start=1):
        Zs.append(Hs[-1] @ W.T + b)
        Hs.append(sigmoid(Zs[-1]) if l < len(params) else Zs[-1])
    # 起点：Δ(L) = (P − Y) / N
    N, L = len(y), len(params)
    P = np.exp(Hs[L] - Hs[L].max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    Delta = P.copy()
    Delta[np.arange(N), y] -= 1
    Delta /= N
    # 反向：l = L, ..., 1
    grads = {}
    for l in range(L, 0, -1):
        W, b = params[l - 1]
        name = 2 * (l - 1)                                      # Sequential 中第 l 个 Linear 的序号：0, 2, 4
        grads[f"{name}.weight"] = Delta.T @ Hs[l - 1]           # ∂J/∂W(l) = Δ(l)ᵀ H(l-1)
        grads[f"{name}.bias"] = Delta.sum(axis=0)               # ∂J/∂b(l) = Δ(l)ᵀ 1
        if l > 1:
            s = sigmoid(Zs[l - 1])
            Delta = s * (1 - s) * (Delta @ W)                   # Δ(l-1) = σ'(Z(l-1)) ⊙ (Δ(l) W(l))
    return grads


mine = backprop(X, y, params)
print({name: g.shape for name, g in mine.items()})
""", tags=[CHECK]),
    md(r"""
**三个独立的参照。**

1. **nnlib 的反向传播**：`nnlib.gradcheck.analytic_gradients` 调用 `model.backward`，读出每个参数的 `.grad`。
2. **中心差分**：对每个参数 $\theta_i$ 分别计算 $\dfrac{J(\theta + \varepsilon e_i) - J(\theta - \varepsilon e_i)}{2\varepsilon}$，$\varepsilon = 10^{-6}$。
   泰勒展开的一阶项相消，截断误差是 $O(\varepsilon^2)$（单侧差分 $\frac{J(\theta + \varepsilon e_i) - J(\theta)}{\varepsilon}$ 只有 $O(\varepsilon)$）；
   而舍入误差约为 $10^{-16}/\varepsilon$，只有在 float64 下两者才都小到足以检验（float32 的舍入误差约 $10^{-7}/\varepsilon$，会淹没结果）。它完全不依赖任何求导公式。
3. **PyTorch 的自动微分**：同样的权重装进 `torch.nn.Sequential`，由 `torch.autograd` 求导。

`nnlib.gradcheck.compare` 以第一组为参照，逐个梯度比较，列出是否逐位相同、是否在容差内一致、最大绝对误差和相对误差：
"""),
    code(r"""
torch_model = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.Sigmoid(), torch.nn.Linear(16, 12),
                                  torch.nn.Sigmoid(), torch.nn.Linear(12, 10)).double()
torch_model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model.state_dict().items()})

loss = (nn.CrossEntropyLoss(), y)
gradients = {
    "从零实现": mine,
    "nnlib": nnlib.gradcheck.analytic_gradients(model, X, loss=loss),
    "中心差分": nnlib.gradcheck.numerical_gradients(model, X, loss=loss),
    "torch.autograd": nnlib.gradcheck.autograd_gradients(torch_model, X, loss=(torch.nn.CrossEntropyLoss(), y)),
}
table = nnlib.gradcheck.compare(gradients, rtol=1e-6, atol=1e-9)
table
"""),
    code(r"""
print("所有梯度都在容差 (rtol=1e-6, atol=1e-9) 内一致:", table.passed)
for other, bound in [("nnlib", 1e-12), ("torch.autograd", 1e-12), ("中心差分", 1e-6)]:
    worst = max(row[5] for row in table.rows if row[1].endswith(other))
    print(f"从零实现 vs {other:<15} 最大相对误差 < {bound:.0e}: {worst < bound}")
fd_rows = [row for row in table.rows if row[1].endswith("中心差分")]
print("与中心差分的最大绝对误差 < 1e-9:", max(row[4] for row in fd_rows) < 1e-9)
worst_name = max(fd_rows, key=lambda row: row[5])[0]                 # 如 "0.weight"：Sequential 中的序号 0 是第 1 层
print("与中心差分相对误差最大的是第", int(worst_name.split(".")[0]) // 2 + 1, "层的梯度")
""", tags=[CHECK]),
    md(r"""
从零实现与 nnlib、PyTorch 的差别只是浮点舍入（表中的相对误差是 $10^{-16}$ 到 $10^{-15}$ 量级，或者逐位相同）；与中心差分的最大绝对误差在 $10^{-9}$ 以下，相对误差在 $10^{-6}$ 以内（梯度本身最小的第 1 层相对误差最大），这是差分本身的截断和舍入误差，不是公式的错误。
**三个互相独立的方法给出同一个答案，我们才能相信反向传播写对了。** 本书 nnlib 的每一层都在测试中做了同样的检查。

如果把 `backprop` 中的 `s = sigmoid(Zs[l - 1])` 错写成 `s = sigmoid(Hs[l - 1])`（即 $\sigma'(h)$ 而不是 $\sigma'(z)$），这张表会立刻显示 `close = NO`，读者可以自行修改验证。
"""),
]

# ---------------------------------------------------------------------------------------- 3.2.4
cells += [
    md(r"""
## 3.2.4 代价：反向传播 vs 数值微分

中心差分需要对**每个**参数做两次前向传播：$P$ 个参数就是 $2P$ 次。上面的网络有 $P = 1374$ 个参数；`numerical_gradients` 还对输入 $X$ 的 $16 \times 64 = 1024$ 个元素也做了差分（表中的 `input` 行）。
我们用一个只会计数的"外壳"模块数一数它调用了多少次前向传播：
"""),
    code(r"""
class CountForward(nn.Module):
    # 包住一个模型，数它的前向传播被调用了几次；反向直接交给被包住的模型
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)

    def backward(self, grad_output):
        return self.net.backward(grad_output)


counted = CountForward(model)
start = time.perf_counter()
nnlib.gradcheck.analytic_gradients(counted, X, loss=loss)
t_bp = time.perf_counter() - start
print("反向传播：前向", counted.calls, "次（外加一次反向）")
counted.calls = 0
start = time.perf_counter()
nnlib.gradcheck.numerical_gradients(counted, X, loss=loss)
t_fd = time.perf_counter() - start
P = sum(p.numel() for p in model.parameters())
print(f"中心差分：前向 {counted.calls} 次 = 2 × ({P} 个参数 + {X.size} 个输入元素) + 1")
""", tags=[CHECK]),
    md(r"""
更精确的比较是数**乘法次数**。只数矩阵乘法（它们占了几乎全部计算）：

- 一次前向传播：$F = N \sum_{l=1}^{L} n_{l-1} n_l$（3.1 节练习 4）。
- 一次反向传播：每层算 $(\Delta^{(l)})^\top H^{(l-1)}$ 要 $N n_l n_{l-1}$ 次；除第 1 层外还要算 $\Delta^{(l)} W^{(l)}$，又是 $N n_l n_{l-1}$ 次。所以 $B = F + N \sum_{l=2}^{L} n_{l-1} n_l \le 2F$。
- 反向传播求全部梯度：$F + B \le 3F$；中心差分：$2P \cdot F$。

两者之比约为 $2P/3$，**随参数个数线性增长**。对 3.1 节的 $64 \to 32 \to 16 \to 10$ 网络和 $N = 256$：
"""),
    code(r"""
def multiplies(sizes, N):
    forward = N * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    backward = forward + N * sum(a * b for a, b in zip(sizes[1:-1], sizes[2:]))   # ΔᵀH 每层都要；ΔW 第 1 层不要
    n_params = sum(b * (a + 1) for a, b in zip(sizes[:-1], sizes[1:]))
    return forward, backward, n_params


for sizes in ([64, 32, 16, 10], [784, 512, 512, 10]):
    F, B, P_ = multiplies(sizes, N=256)
    fd = 2 * P_ * F
    print(f"{str(sizes):<20} P = {P_:>7,}  反向传播 F+B = {F + B:>13,}  中心差分 2P·F = {fd:>19,}  比值 ≈ {fd / (F + B):,.0f}")
""", tags=[CHECK]),
    md(r"""
对小网络是两千多倍，对一个普通的 MNIST 网络（约 67 万个参数）已经是 **50 多万倍**；现代网络有数十亿参数，不用反向传播就无法训练。
实际耗时也是如此（上面数次数时同时记录了耗时；结果因机器而异）：
"""),
    code(r"""
# t_bp、t_fd 是上面数前向次数时记录的耗时
print(f"反向传播 {t_bp * 1e3:.2f} ms，中心差分 {t_fd * 1e3:.0f} ms，慢了约 {t_fd / t_bp:,.0f} 倍")
"""),
    md(r"""
所以数值微分只用来**检验**反向传播（在很小的网络和批量上、用 float64），从不用来训练。
"""),
]

# ---------------------------------------------------------------------------------------- 3.2.5
cells += [
    md(r"""
## 3.2.5 梯度消失：看梯度怎样流过深层网络

把递推式展开，第 1 层的误差项是一串因子的乘积：

$$
\delta^{(1)} = \sigma'(z^{(1)}) \odot (W^{(2)})^\top \Bigl( \sigma'(z^{(2)}) \odot (W^{(3)})^\top \bigl( \cdots \odot (W^{(L)})^\top \delta^{(L)} \bigr) \Bigr),
\qquad
\bigl\|\delta^{(1)}\bigr\| \le \prod_{l=1}^{L-1} \Bigl( \max_i \bigl|\sigma'(z^{(l)}_i)\bigr| \cdot \bigl\|W^{(l+1)}\bigr\|_2 \Bigr) \, \bigl\|\delta^{(L)}\bigr\| ,
$$

其中 $\|W\|_2$ 是矩阵的谱范数（最大奇异值）。sigmoid 的导数不超过 $1/4$；如果权重又不够大，每一层都把误差项乘上一个小于 1 的因子，**靠近输入的层得到的梯度随深度指数衰减**——
这就是**梯度消失**（vanishing gradient），Glorot 与 Bengio 把它作为深层 sigmoid 网络难以训练的主要原因 {cite}`glorot2010understanding`。反过来，因子大于 1 时梯度指数增长，就是**梯度爆炸**。
3.1.6 节看到的"前向信号逐层消失"与此是同一件事：两者都由 $\sigma'$ 和 $W^{(l)}$ 的大小决定。
ReLU 在正半轴的导数恰为 1，配合 He 初始化（$W_{ij} \sim \mathcal{N}(0, 2/n_{l-1})$）使每层的方差保持不变 {cite}`he2015delving`，梯度就能一直传到第一层。

**梯度流仪表盘**（`nnlib.widgets.GradientFlowDashboard`）在手写数字数据（全部 1797 张图）上实时训练一个多层感知机，同时画出：训练损失；每一层权重梯度的范数 $\|\partial J / \partial W^{(l)}\|$ 随步数的变化（对数坐标）；
以及第一层、中间层、最后一层当前梯度的分布（$\log_{10} |\partial J / \partial W|$ 的直方图）。上方的控件可以改变层数、宽度、激活函数、初始化、学习率、优化器和设备（有 GPU 时训练真的在 GPU 上进行）。

先看 8 个隐藏层、sigmoid、PyTorch 默认初始化。下面的代码格先显示仪表盘，再从代码里训练 300 步（小批量 128，SGD，学习率 0.05）——网页版显示的是训练结束时的画面；
**在 Jupyter、JupyterLab 或 Colab 中运行时，可以直接改控件、按"训练"和"重置模型"按钮**，看曲线实时变化。
"""),
    code(r"""
flow_sigmoid = GradientFlowDashboard(depth=8, width=32, activation="sigmoid", init="pytorch", lr=0.05, steps=300)
display(flow_sigmoid)
flow_sigmoid.train(300);      # 分号：train 返回仪表盘本身，不必再显示一次
"""),
    md(r"""
梯度范数图里，9 条曲线（8 个隐藏层加输出层）大体按层号倒序从上到下排列：**最后一层的梯度最大，越靠近输入越小**，第 1 层比最后一层小 6 到 7 个数量级（下面会打印各层的比值）。
梯度分布的直方图也一样：第 1 层梯度元素的典型大小不到 $10^{-9}$。损失曲线几乎是一条水平线，停在 $\ln 10 \approx 2.30$——前面的层实际上没有在学习。

同样的深度和宽度，换成 ReLU 和 He 初始化：
"""),
    code(r"""
flow_relu = GradientFlowDashboard(depth=8, width=32, activation="relu", init="he", lr=0.05, steps=300)
display(flow_relu)
flow_relu.train(300);
"""),
    md(r"""
各层的梯度范数集中在同一个数量级里，损失明显下降。两个仪表盘记录的数据都在 `history` 里，可以直接读出来。下面打印训练**第一步**（还未更新参数时）各层梯度范数与最后一层之比，以及 300 步后的损失和准确率。

读训练结果时要注意一点：300 步 float32 的小批量随机梯度下降会把最后一位的舍入差别逐步放大，换一台机器（或另一种 BLAS 内核、另一个线程数），最终的损失和准确率就不同，准确率可以相差十几个百分点。
所以下面只报告它们落在哪个区间（损失取最近 20 步小批量损失的中位数），这样的结论在任何机器上都成立；本机的具体数值由再下一个代码格打印。第一步的比值还没有经过训练，不受这种放大的影响。
"""),
    code(r"""
def first_step_ratios(dash):
    first_step = [norms[0] for norms in dash.history["grad_norm"].values()]     # 第 0 步，每层一个数
    return [g / first_step[-1] for g in first_step]


def loss_outcome(dash):
    loss = float(np.median(dash.history["loss"][-20:]))                          # 最近 20 步的中位数
    if abs(loss - np.log(10)) < 0.05:
        return "损失仍约为 ln 10 ≈ 2.30"
    return "损失已低于 1" if loss < 1 else "损失在 1 与 2.25 之间"


def accuracy_outcome(dash):
    acc = dash.accuracy()
    if acc < 0.13:
        return "训练集准确率约 10%，与随机猜测相当"
    return "训练集准确率超过 50%" if acc > 0.5 else "训练集准确率在 13% 与 50% 之间"


for name, dash in [("sigmoid + PyTorch 默认", flow_sigmoid), ("ReLU + He", flow_relu)]:
    print(f"{name}：第 0 步 ‖∂J/∂W(l)‖ / ‖∂J/∂W(输出层)‖，l = 1, ..., 9")
    print("   ", " ".join(f"{r:.0e}" for r in first_step_ratios(dash)))
    print(f"    {len(dash.history['loss'])} 步后：{loss_outcome(dash)}，{accuracy_outcome(dash)}")
g1 = np.abs(flow_sigmoid.model[0].weight.grad)                               # 最后一步第 1 层的梯度
print(f"sigmoid 网络：最后一步第 1 层梯度元素 |∂J/∂W(1)| 的中位数为 {float(np.median(g1)):.0e}")
""", tags=[CHECK]),
    code(r"""
# 本机的具体数值（随 CPU、BLAS 内核和线程数而变）
for name, dash in [("sigmoid + PyTorch 默认", flow_sigmoid), ("ReLU + He", flow_relu)]:
    print(f"{name}：最后一步的小批量损失 {dash.history['loss'][-1]:.3f}，训练集准确率 {dash.accuracy():.1%}")
"""),
    code(r"""
fig, ax = plt.subplots(figsize=(7, 3.8))
for name, dash, color in [("sigmoid + PyTorch 默认", flow_sigmoid, "C0"), ("ReLU + He", flow_relu, "C2")]:
    norms = np.array(list(dash.history["grad_norm"].values()))            # (层数, 步数)
    layers = np.arange(1, len(norms) + 1)
    ax.plot(layers, norms[:, 0], "o-", color=color, label=f"{name}：第 0 步")
    ax.plot(layers, norms[:, -1], "s--", color=color, alpha=0.6, label=f"{name}：第 {norms.shape[1] - 1} 步")
ax.set_yscale("log")
ax.set_xlabel("层 l（1–8 为隐藏层，9 为输出层）")
ax.set_ylabel("‖∂J/∂W(l)‖（对数坐标）")
ax.set_title("8 个隐藏层的网络：各层权重梯度的范数")
ax.legend(fontsize=9)
plt.show()
"""),
    md(r"""
sigmoid 网络第 1 层的梯度只有输出层的约 $3 \times 10^{-7}$，300 步后损失仍停在 $\ln 10$，准确率约 10%，与随机猜测相当；ReLU + He 网络各层之比都在 1 附近，300 步后损失已低于 1，分对了一半以上的训练图像（本机的具体数值见上）。

可以在仪表盘里继续尝试。下面的代码格用同样的仪表盘（不显示）试三种改法：sigmoid 配 Xavier 初始化 {cite}`glorot2010understanding`；换成 tanh（导数最大为 1 而不是 1/4）；把 sigmoid 网络的优化器换成学习率 0.003 的 Adam（3.3 节）。
"""),
    code(r"""
def first_over_output(dash, step):
    norms = [v[step] for v in dash.history["grad_norm"].values()]
    return norms[0] / norms[-1]


for name, settings in [("sigmoid + Xavier", dict(activation="sigmoid", init="xavier")),
                       ("tanh + PyTorch 默认", dict(activation="tanh", init="pytorch"))]:
    dash = GradientFlowDashboard(depth=8, width=32, lr=0.05, **settings).train(1)
    print(f"{name}：第 0 步第 1 层与输出层的梯度范数之比 {first_over_output(dash, 0):.0e}")

flow_adam = GradientFlowDashboard(depth=8, width=32, activation="sigmoid", init="pytorch",
                                  optimizer="adam", lr=0.003, steps=300).train(300)
late = np.median([first_over_output(flow_adam, step) for step in range(250, 300)])   # 最后 50 步的中位数
print(f"sigmoid + PyTorch 默认 + Adam：最后 50 步第 1 层与输出层之比的中位数超过 1e-3：{late > 1e-3}")
print(f"    300 步后：{loss_outcome(flow_adam)}")
""", tags=[CHECK]),
    md(r"""
sigmoid 配 Xavier 初始化，第 1 层与输出层之比从 $3 \times 10^{-7}$ 提高到约 $2 \times 10^{-5}$，仍然明显衰减；tanh 的比值约为 0.1。
Adam 按每个参数梯度的大小归一化步长，梯度很小的前几层也能移动：300 步后第 1 层与输出层之比比第 0 步高出三个数量级以上（它逐步波动很大，所以取最后 50 步的中位数），损失开始下降，但仍在 1 以上——ReLU + He 用普通的 SGD 就快得多。
"""),
]

# ---------------------------------------------------------------------------------------- 3.2.6
cells += [
    md(r"""
## 3.2.6 梯度爆炸与发散：让训练在第一个 NaN 处停下

梯度太大时，参数一步就被推得很远，损失越来越大，几步之内溢出成 `inf`，接着变成 `nan`。危险在于它**不会报错**：`nan` 会安静地传遍所有参数，训练循环照常运行，打印出一列 `nan`。
nnlib 的 `DivergenceGuard` 在每一步按计算顺序检查每层的输出、损失和每个参数的梯度，在**第一个** NaN/Inf 出现时抛出 `DivergenceError`，说明是第几步、哪一层、什么量出了问题。

下面的例子复现一个常见的错误：**忘了把像素从 0–16 缩放到 0–1**，又用了偏大的学习率。任务是回归（用均方误差预测图像上的数字 0–9），网络用 float32（nnlib 的默认精度）。
`regression_run` 把每步的损失追加到调用者传入的列表 `losses` 里，训练中途抛出异常时，出错之前的记录仍留在调用者手里。
"""),
    code(r"""
def regression_run(X, lr, steps=100, losses=None):
    nnlib.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    criterion = nn.MSELoss()
    target = y_all[:256, None].astype(np.float32)
    losses = [] if losses is None else losses
    with DivergenceGuard(net) as guard, np.errstate(over="ignore", invalid="ignore"):
        for step in range(steps):
            loss = criterion(net(X[:256].astype(np.float32)), target)
            net.zero_grad()
            net.backward(criterion.backward())
            guard.check(step, loss)                   # 第一个 NaN/Inf 处抛出 DivergenceError
            for p in net.parameters():
                p.data -= lr * p.grad
            losses.append(float(loss))
    return losses


history = []
try:
    regression_run(digits.data, lr=0.3, losses=history)   # 像素值 0–16，没有缩放
except DivergenceError as err:
    print("DivergenceError:", err)
    print("出错的步数:", err.step, "  出错的量:", err.kind)
print("出错前第 0, 1, ... 步的损失:", " ".join(f"{v:.0e}" for v in history))
""", tags=[CHECK]),
    md(r"""
错误信息（nnlib 的报错是英文的）说：第 16 步的损失是 `inf`，建议调小学习率、检查输入、或裁剪梯度。最后一行是出错前记录下的损失：从第 2 步起，每步增大两个多数量级。
`np.errstate(over="ignore", invalid="ignore")` 让 NumPy 不再为溢出打印警告——守卫会给出更有用的报告。

按照建议修复：把输入缩放到 0–1，学习率改为 0.01：
"""),
    code(r"""
losses = regression_run(X_all, lr=0.01)
print(f"输入缩放到 0–1、学习率 0.01：损失从 {losses[0]:.1f} 降到 {losses[-1]:.1f}（100 步），没有发散")
""", tags=[CHECK]),
    md(r"""
梯度流仪表盘在每一步也会使用 `DivergenceGuard`。在 3.2.5 节的 ReLU 仪表盘里把初始化选"朴素 N(0, 1)"、学习率调到最大（$10^{0.5} \approx 3.2$），状态栏会报告发散的步数和层。
sigmoid 和 tanh 的输出有界（分别在 $(0, 1)$ 和 $(-1, 1)$ 之内），同样的设定下不会溢出，状态栏不报告发散——这两种网络的问题是饱和与梯度消失。下面的代码格验证这一点：
"""),
    code(r"""
for activation in ("relu", "sigmoid", "tanh"):
    dash = GradientFlowDashboard(depth=8, width=32, activation=activation, init="naive", lr=10 ** 0.5).train(20)
    steps_done = len(dash.history["loss"])                          # 发散的那一步没有记录
    print(f"{activation:<8}", f"第 {steps_done} 步发散" if dash.diverged else "20 步内没有发散")
""", tags=[CHECK]),
    md(r"""
3.3 节的**梯度裁剪** `clip_grad_norm_` 是应对梯度爆炸的另一种办法。
"""),
]

# ---------------------------------------------------------------------------------------- 小结与练习
cells += [
    md(r"""
## 小结

- 误差项 $\delta^{(l)} = \partial J / \partial z^{(l)}$ 是损失对**净输入**的梯度。由链式法则：$\delta^{(l)} = \sigma'(z^{(l)}) \odot (W^{(l+1)})^\top \delta^{(l+1)}$（$\sigma'$ 在 $z^{(l)}$ 处求值），
  $\partial J / \partial W^{(l)} = \delta^{(l)} (h^{(l-1)})^\top$，$\partial J / \partial b^{(l)} = \delta^{(l)}$；起点由损失决定，softmax 加交叉熵时 $\delta^{(L)} = p - e_y$。
- 批量形式：$\Delta^{(L)} = (P - Y)/N$，$\Delta^{(l)} = \sigma'(Z^{(l)}) \odot (\Delta^{(l+1)} W^{(l+1)})$，$\partial J/\partial W^{(l)} = (\Delta^{(l)})^\top H^{(l-1)}$，$\partial J/\partial b^{(l)} = (\Delta^{(l)})^\top \mathbf{1}$——对样本求和，$1/N$ 来自平均损失。
- 反向传播只计算梯度；更新参数是优化器的事（3.3 节）。
- 检验反向传播：与 float64 的中心差分和另一个独立实现（PyTorch）比较。中心差分的代价是 $2P$ 次前向传播，反向传播约 3 次。
- 深层 sigmoid 网络的梯度逐层指数衰减（梯度消失）；ReLU + He 初始化让梯度保持在同一量级。发散时用 `DivergenceGuard` 找到第一个 NaN/Inf。

## 练习
"""),
    code(CHECK_HELPER),
]

cells += ex.add(
    "σ'(z) 还是 σ'(h)",
    r"""
写函数 `sigmoid_delta(grad_h, z)`：已知 $\partial J / \partial h$（形状与 $z$ 相同）和本层的净输入 $z$，其中 $h = \sigma(z)$ 是 sigmoid，返回 $\delta = \partial J / \partial z$。
自检会与 nnlib `nn.Sigmoid` 的 `backward` 比较。再想一想：如果错用 $\sigma'(h)$，在 $z = 0$ 处会差多少？
""",
    r"""
def sigmoid_delta(grad_h, z):
    raise NotImplementedError
""",
    r"""
def test_sigmoid_delta():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 5)) * 3
    grad_h = rng.standard_normal((4, 5))
    act = nn.Sigmoid()
    act(z)
    truth = act.backward(grad_h)
    got = np.asarray(sigmoid_delta(grad_h, z))
    return np.allclose(got, truth, atol=1e-12), "与 nn.Sigmoid 的 backward 不一致。σ'(z) = σ(z)(1 − σ(z))，要在 z 处求值。"


check_answer("练习 1", test_sigmoid_delta)
""",
    r"""
def sigmoid_delta(grad_h, z):
    s = 1 / (1 + np.exp(-z))
    return grad_h * s * (1 - s)          # δ = ∂J/∂h ⊙ σ'(z)
""",
    r"""
在 $z = 0$ 处，$\sigma'(0) = \sigma(0)(1 - \sigma(0)) = 0.25$；而 $h = 0.5$，$\sigma'(h) = \sigma'(0.5) \approx 0.235$——差 6%，足以让梯度检验失败，却不会让训练明显出错，所以这类错误很难靠"看训练曲线"发现。
""",
)

cells += ex.add(
    "tanh 网络 + 均方误差的反向传播",
    r"""
对一个隐藏层的回归网络 $H^{(1)} = \tanh(X (W^{(1)})^\top + \mathbf{1} (b^{(1)})^\top)$，$\hat Y = H^{(1)} (W^{(2)})^\top + \mathbf{1} (b^{(2)})^\top$，损失是对全部 $N \times k$ 个元素取平均的均方误差
$J = \frac{1}{Nk} \sum_{n,j} (\hat Y_{nj} - Y_{nj})^2$（即 `nn.MSELoss()`）。实现 `mse_backprop(X, Y, W1, b1, W2, b2)`，返回字典 `{"0.weight": ..., "0.bias": ..., "2.weight": ..., "2.bias": ...}`。
提示：起点 $\Delta^{(2)} = \frac{2}{Nk}(\hat Y - Y)$，$\tanh'(z) = 1 - \tanh^2 z$。
""",
    r"""
def mse_backprop(X, Y, W1, b1, W2, b2):
    raise NotImplementedError
""",
    r"""
def test_mse_backprop():
    nnlib.manual_seed(5)
    net = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    rng = np.random.default_rng(6)
    Xe, Ye = rng.standard_normal((8, 6)), rng.standard_normal((8, 3))
    truth = nnlib.gradcheck.analytic_gradients(net, Xe, loss=(nn.MSELoss(), Ye))
    got = mse_backprop(Xe, Ye, net[0].weight.data, net[0].bias.data, net[2].weight.data, net[2].bias.data)
    wrong = [k for k in ["0.weight", "0.bias", "2.weight", "2.bias"]
             if k not in got or np.shape(got[k]) != truth[k].shape or not np.allclose(got[k], truth[k], atol=1e-10)]
    return not wrong, f"这些梯度不对：{wrong}。检查起点里的 2/(N·k)，以及 tanh' 是在 Z(1) 处求值。"


check_answer("练习 2", test_mse_backprop)
""",
    r"""
def mse_backprop(X, Y, W1, b1, W2, b2):
    Z1 = X @ W1.T + b1
    H1 = np.tanh(Z1)
    Y_hat = H1 @ W2.T + b2
    D2 = 2 * (Y_hat - Y) / Y.size                 # Δ(2) = 2(Ŷ − Y)/(N k)
    D1 = (1 - H1**2) * (D2 @ W2)                  # Δ(1) = tanh'(Z(1)) ⊙ (Δ(2) W(2))
    return {"0.weight": D1.T @ X, "0.bias": D1.sum(axis=0),
            "2.weight": D2.T @ H1, "2.bias": D2.sum(axis=0)}
""",
    r"""
只有起点变了：$\partial J / \partial \hat Y_{nj} = \frac{2}{Nk}(\hat Y_{nj} - Y_{nj})$。其余的递推与 softmax 网络完全相同——反向传播的结构不依赖于损失函数，损失只决定 $\Delta^{(L)}$。
""",
)

cells += ex.add(
    "中心差分要几次前向传播",
    r"""
写函数 `fd_forward_passes(sizes)`：用中心差分求一个各层单元数为 `sizes` 的多层感知机（有偏置）的全部**参数**梯度，需要多少次前向传播？（不算输入的梯度，也不算求 $J$ 本身的那一次。）
""",
    r"""
def fd_forward_passes(sizes):
    raise NotImplementedError
""",
    r"""
def test_fd_forward_passes():
    for s in ([64, 16, 12, 10], [2, 3, 1], [784, 512, 512, 10]):
        truth = 2 * sum(b * (a + 1) for a, b in zip(s[:-1], s[1:]))
        if fd_forward_passes(s) != truth:
            return False, f"sizes = {s}：应为 {truth}，你的是 {fd_forward_passes(s)}。每个参数两次：θ + ε 与 θ − ε。"
    return True, ""


check_answer("练习 3", test_fd_forward_passes)
""",
    r"""
def fd_forward_passes(sizes):
    return 2 * sum(n_out * (n_in + 1) for n_in, n_out in zip(sizes[:-1], sizes[1:]))
""",
    r"""
每个参数两次（$+\varepsilon$ 与 $-\varepsilon$），共 $2P$ 次；对 $64 \to 16 \to 12 \to 10$ 网络是 $2 \times 1374 = 2748$ 次，与 3.2.4 节数出来的结果一致（那里还多了输入的 $2 \times 1024$ 次和开头的 1 次）。
""",
)

cells += ex.add(
    "对输入的梯度",
    r"""
反向传播顺带也能算出损失对**输入**的梯度 $\partial J / \partial X \in \mathbb{R}^{N \times n_0}$（它告诉我们改动哪些像素最能改变损失，常用来可视化网络"在看哪里"）。
对 3.2.3 节的 sigmoid 网络写出 `input_gradient(X, y, params)`。提示：它就是递推再走一步，$\partial J / \partial X = \Delta^{(1)} W^{(1)}$。可以复制 `backprop` 再改几行。
""",
    r"""
def input_gradient(X, y, params):
    raise NotImplementedError
""",
    r"""
def test_input_gradient():
    truth = nnlib.gradcheck.analytic_gradients(model, X, loss=loss)["input"]
    got = np.asarray(input_gradient(X, y, params))
    if got.shape != X.shape:
        return False, f"形状应为 {X.shape}，你的是 {got.shape}。"
    return np.allclose(got, truth, atol=1e-12), "数值不对。输入层没有激活函数，最后一步只乘 W(1)，不乘 σ'。"


check_answer("练习 4", test_input_gradient)
""",
    r"""
def input_gradient(X, y, params):
    Zs, Hs = [None], [X]
    for l, (W, b) in enumerate(params, start=1):
        Zs.append(Hs[-1] @ W.T + b)
        Hs.append(sigmoid(Zs[-1]) if l < len(params) else Zs[-1])
    N, L = len(y), len(params)
    P = np.exp(Hs[L] - Hs[L].max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    Delta = P.copy()
    Delta[np.arange(N), y] -= 1
    Delta /= N
    for l in range(L, 1, -1):
        s = sigmoid(Zs[l - 1])
        Delta = s * (1 - s) * (Delta @ params[l - 1][0])
    return Delta @ params[0][0]                   # ∂J/∂X = Δ(1) W(1)
""",
    r"""
输入 $X = H^{(0)}$ 没有激活函数，所以 $\partial J / \partial H^{(0)} = \Delta^{(1)} W^{(1)}$ 就是答案，不再乘 $\sigma'$。这正是 `Linear.backward` 的返回值 `grad_output @ self.weight.data`。
""",
)

cells += ex.verification_cells()

if __name__ == "__main__":
    build("ch03_2_backprop", cells)
