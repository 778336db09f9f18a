"""第2章 核心概念 → chapters/ch02_core_concepts.ipynb  (run: .venv/bin/python book/build_chapters/ch02.py)"""

from nbgen import CHECK, CHECK_HELPER, Exercises, build, code, md

ex = Exercises()
cells = []

# ---------------------------------------------------------------------------------------- 导言
cells += [
    md(r"""
# 第2章 核心概念

第 1 章把神经网络当作黑盒用了一次。这一章打开盒子：

- **2.1 人工神经网络的基本结构**：一个神经元算什么、一层神经元怎样写成矩阵、每个符号是什么形状；常用的激活函数及其导数；最后用几行 NumPy 从零写出一个多层网络的前向计算，并验证它与 nnlib、PyTorch 的结果一致。
- **2.2 深度学习的概念**："深"到底带来了什么？我们先看一个可以严格证明的例子，再训练一个小的深层网络，逐层画出它学到的特征，并与参数一样多的浅层网络比较。

本章约定：向量都是**列向量**，$\mathbb{R}^n$ 表示 $n$ 维实向量的集合，$\mathbb{R}^{n \times m}$ 表示 $n$ 行 $m$ 列的实矩阵；$\odot$ 表示逐元素乘积。
"""),
    code(r"""
import inspect

import numpy as np
import matplotlib.pyplot as plt

import nnlib
from nnlib import nn
"""),
]

# ---------------------------------------------------------------------------------------- 2.1
cells += [
    md(r"""
## 2.1 人工神经网络的基本结构

### 2.1.1 从一个神经元开始

生物神经元通过树突接收其他神经元传来的信号，这些信号经突触放大或减弱后在细胞体内汇总；总量超过某个阈值时，神经元"激发"，沿轴突把信号传下去。
人工神经元保留了这个过程的骨架，而舍弃了几乎所有生物细节：

$$
z = w^\top x + b = \sum_{i=1}^{n} w_i x_i + b, \qquad h = \sigma(z).
$$

| 符号 | 含义 | 形状 |
|---|---|---|
| $x = (x_1, \dots, x_n)^\top$ | 输入（来自上一层或原始数据） | $\mathbb{R}^{n}$ |
| $w = (w_1, \dots, w_n)^\top$ | 权重：每个输入的"突触强度"，可正可负 | $\mathbb{R}^{n}$ |
| $b$ | 偏置：相当于负的激发阈值 | $\mathbb{R}$ |
| $z$ | 净输入（加权和，pre-activation） | $\mathbb{R}$ |
| $\sigma$ | 激活函数，把 $z$ 变成输出 | $\mathbb{R} \to \mathbb{R}$ |
| $h$ | 神经元的输出（激活值） | $\mathbb{R}$ |

1943 年 McCulloch 与 Pitts 的神经元用的是阶跃函数 $\sigma(z) = [z \ge 0]$ {cite}`mcculloch1943logical`，1958 年的感知机也是如此 {cite}`rosenblatt1958perceptron`。
阶跃函数的导数处处为 0（或不存在），无法用梯度下降训练，所以现代网络改用光滑或分段线性的激活函数（2.1.4 节）。

### 2.1.2 一层神经元：源文档的写法

把 $m$ 个神经元并排放在一起，它们读同一个输入 $x \in \mathbb{R}^{n}$，第 $j$ 个神经元有自己的权重 $w_j \in \mathbb{R}^{n}$ 和偏置 $b_j$。
把权重向量**按列**排成矩阵、偏置排成向量：

$$
W = \begin{bmatrix} w_1 & w_2 & \cdots & w_m \end{bmatrix} \in \mathbb{R}^{n \times m}, \qquad
b = (b_1, \dots, b_m)^\top \in \mathbb{R}^{m},
$$

那么 $W^\top x$ 的第 $j$ 个分量正好是 $w_j^\top x$，$m$ 个神经元的计算合成一个式子——这就是源文档 2.1 节的公式：

$$
h = \sigma(W^\top x + b), \qquad x \in \mathbb{R}^{n},\; W \in \mathbb{R}^{n \times m},\; b \in \mathbb{R}^{m},\; h \in \mathbb{R}^{m},
$$

其中 $\sigma$ 对向量**逐元素**作用：$\sigma(z) = (\sigma(z_1), \dots, \sigma(z_m))^\top$（源文档没有写明这一点）。这样的层叫**全连接层**（fully connected layer）：每个输出都与每个输入相连，共有 $nm + m$ 个参数。

一个网络由若干层组成：**输入层**只是输入 $x$ 本身，没有参数；**隐藏层**的输出不直接被观察，是网络学到的中间表示；**输出层**给出最终结果（例如各类别的得分）。
通常说"一个 $L$ 层网络"时，只数有参数的层：第 1 章的网络 $2 \to 16 \to 2$ 是两层网络，其中一个隐藏层。
"""),
    md(r"""
### 2.1.3 两种写法的统一：$W^\top x$、$W h$ 与 PyTorch 的 `weight`

源文档在 2.1 节写 $h = \sigma(W^\top x + b)$，到 3.1 节却写 $h^{(l+1)} = \sigma(W^{(l+1)} h^{(l)} + b^{(l+1)})$，没有转置。两式都对，但**它们的 $W$ 不是同一个矩阵**：
若 $h^{(l)} \in \mathbb{R}^{n}$、$h^{(l+1)} \in \mathbb{R}^{m}$，则 3.1 节的 $W^{(l+1)}$ 必须是 $m \times n$ 的（每**行**是一个神经元的权重），恰好是 2.1 节那个 $n \times m$ 矩阵的转置。
源文档两处都只说"$W$ 为权重矩阵"而没有给出形状，读者很容易把它们当成同一个矩阵。3.2 节的 $\partial J / \partial W^{(l)} = \delta^{(l)} (h^{(l-1)})^\top$ 是"输出维数 × 输入维数"的矩阵，也只与 3.1 节的写法一致。

**本书从这里开始统一采用 3.1 节的写法**：

$$
h = \sigma(W x + b), \qquad W \in \mathbb{R}^{m \times n} \;(\text{输出维数} \times \text{输入维数}),\qquad W = W_{\text{2.1 节}}^\top .
$$

这也正是 PyTorch 和 nnlib 的约定：`nn.Linear(in_features=n, out_features=m)` 的 `weight` 形状是 `(m, n)`，`bias` 形状是 `(m,)`。

**批量是按行存放的。** 实际计算时一次处理 $N$ 个样本，PyTorch 把它们按**行**堆成 $X \in \mathbb{R}^{N \times n}$（第 $i$ 行是 $x_i^\top$）。对每一行转置 $h_i = \sigma(W x_i + b)$ 得 $h_i^\top = \sigma(x_i^\top W^\top + b^\top)$，堆起来就是

$$
H = \sigma\!\left(X W^\top + \mathbf{1}_N b^\top\right) \in \mathbb{R}^{N \times m},
$$

其中 $\mathbf{1}_N b^\top$（把 $b^\top$ 复制 $N$ 行）在 NumPy/PyTorch 里由**广播**自动完成。
所以 `Linear` 计算的是 `x @ weight.T + bias`。下面直接打印 nnlib 的源代码——本书从不重抄库代码，库本身就是唯一的来源：
"""),
    code(r"""
print(inspect.getsource(nn.Linear.forward))
"""),
    code(r"""
layer = nn.Linear(3, 4)          # n = 3 个输入，m = 4 个神经元
X = np.ones((5, 3), dtype=np.float32)   # N = 5 个样本，按行存放
print("weight:", layer.weight.shape, " bias:", layer.bias.shape, " 输出:", layer(X).shape)
""", tags=[CHECK]),
    md(r"""
三种写法对照如下（$n$ 个输入、$m$ 个输出、批量大小 $N$）：

| | 源文档 2.1 节 | 源文档 3.1 节 / 本书 | PyTorch / nnlib |
|---|---|---|---|
| 单个样本 | $h = \sigma(W^\top x + b)$ | $h = \sigma(W x + b)$ | `act(layer(x))`，`x` 形状 `(n,)` |
| 权重形状 | $n \times m$（每列一个神经元） | $m \times n$（每行一个神经元） | `weight`: `(m, n)` |
| 一批样本 | $H = \sigma(X W + \mathbf{1} b^\top)$ | $H = \sigma(X W^\top + \mathbf{1} b^\top)$ | `x @ weight.T + bias`，`x` 形状 `(N, n)` |

从源文档的 $W$ 得到 PyTorch 的 `weight`，只需转置一次；2.1.5 节会用这一点把同一组权重装进三种实现。
"""),
    md(r"""
### 2.1.4 激活函数

**为什么一定要有非线性？** 如果 $\sigma$ 是恒等函数，两层网络 $W_2(W_1 x + b_1) + b_2 = (W_2 W_1)x + (W_2 b_1 + b_2)$ 仍是一个线性函数（第 1 章练习 2）；
无论堆多少层，表达能力都和一层相同。非线性激活函数让层的复合真正变得更强。

训练时（第 3.2 节）反向传播需要激活函数的导数 $\sigma'(z)$：它是误差信号穿过这一层时被乘上的因子。因此我们对每个激活函数都同时关心函数本身和它的导数。

| 名称 | $\sigma(z)$ | $\sigma'(z)$ | 特点 |
|---|---|---|---|
| Sigmoid | $\dfrac{1}{1 + e^{-z}}$ | $\sigma(z)\,(1 - \sigma(z))$ | 输出在 $(0,1)$；导数最大只有 $1/4$，$\lvert z \rvert$ 大时趋于 0（"饱和"）|
| Tanh | $\tanh z$ | $1 - \tanh^2 z$ | 输出在 $(-1,1)$ 且以 0 为中心；导数最大为 1，同样会饱和 |
| ReLU | $\max(0, z)$ | $1$（$z > 0$），$0$（$z < 0$） | 计算简单，正半轴不饱和；负半轴梯度为 0 |
| LeakyReLU | $z$（$z > 0$），$a z$（$z \le 0$） | $1$ 或 $a$ | 负半轴保留小斜率 $a$（如 0.01），梯度不会完全消失 |
| GELU | $z\,\Phi(z)$ | $\Phi(z) + z\,\varphi(z)$ | 光滑版的 ReLU；$\Phi$、$\varphi$ 是标准正态分布的分布函数与密度函数 |

**推导两条导数。** Sigmoid：$\sigma(z) = (1 + e^{-z})^{-1}$，所以

$$
\sigma'(z) = \frac{e^{-z}}{(1 + e^{-z})^2} = \frac{1}{1 + e^{-z}} \cdot \frac{e^{-z}}{1 + e^{-z}} = \sigma(z)\,\bigl(1 - \sigma(z)\bigr) \le \frac14 ,
$$

等号在 $z = 0$ 处取到。GELU：由乘积法则和 $\Phi' = \varphi$，$\frac{d}{dz}\bigl[z\,\Phi(z)\bigr] = \Phi(z) + z\,\varphi(z)$，其中 $\varphi(z) = e^{-z^2/2} / \sqrt{2\pi}$。

ReLU 在 $z = 0$ 处不可导，PyTorch 和 nnlib 约定此处导数取 0。
Sigmoid 与 tanh 的饱和使深层网络的梯度逐层变小，这是 Glorot 与 Bengio 分析深层网络难以训练时指出的主要原因之一 {cite}`glorot2010understanding`；
ReLU {cite}`nair2010rectified` 及其变体 LeakyReLU {cite}`maas2013rectifier`、PReLU {cite}`he2015delving` 缓解了这个问题；
GELU {cite}`hendrycks2016gelu` 则是 BERT、GPT 等 Transformer 模型采用的激活函数。

nnlib 的每个激活函数都把前向和导数写在一起。以 Sigmoid 为例（`backward` 接收的 `grad_output` 就是第 3 章的误差信号 $\delta$，返回 $\delta \odot \sigma'(z)$）：
"""),
    code(r"""
print(inspect.getsource(nn.Sigmoid))
"""),
    md(r"""
只要让 `grad_output` 全为 1，`backward` 返回的就是 $\sigma'(z)$ 本身。下面在 $[-4, 4]$ 上用这种方法取出 nnlib 的导数，并和两个独立的来源比较：上表中的**公式**，以及 **PyTorch 的自动微分**（`torch.autograd`，它完全不知道 nnlib 的存在）。
全部用 float64 计算；表中只打印误差是否小于 $10^{-12}$，而不是误差本身——具体的舍入误差远小于这个界，但它的确切数值会随机器和数学库而变。
"""),
    code(r"""
import math

import torch

z = np.linspace(-4, 4, 801)                       # float64；包含 z = 0
a = 0.1                                           # LeakyReLU 的负半轴斜率（取大一点，图上看得清）
activations = {"Sigmoid": nn.Sigmoid(), "Tanh": nn.Tanh(), "ReLU": nn.ReLU(),
               "LeakyReLU": nn.LeakyReLU(a), "GELU": nn.GELU()}

Phi = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))   # 标准正态分布函数 Φ
phi = np.exp(-z**2 / 2) / math.sqrt(2 * math.pi)             # 标准正态密度 φ
s = 1 / (1 + np.exp(-z))
formula = {"Sigmoid": s * (1 - s), "Tanh": 1 - np.tanh(z)**2, "ReLU": (z > 0).astype(float),
           "LeakyReLU": np.where(z > 0, 1.0, a), "GELU": Phi + z * phi}
torch_fn = {"Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "ReLU": torch.relu,
            "LeakyReLU": lambda t: torch.nn.functional.leaky_relu(t, a), "GELU": torch.nn.functional.gelu}

values, slopes = {}, {}
print(f"{'激活函数':<10} {'nnlib 导数 vs 公式':<18} {'nnlib 导数 vs autograd':<22} {'nnlib 函数值 vs PyTorch'}")
for name, act in activations.items():
    values[name] = act(z)                                  # 前向：σ(z)
    slopes[name] = act.backward(np.ones_like(z))           # 反向，δ = 1：得到 σ'(z)
    t = torch.tensor(z, requires_grad=True)
    out = torch_fn[name](t)
    out.sum().backward()                                   # autograd：∂(Σσ(z_i))/∂z_i = σ'(z_i)
    ok_formula = np.max(np.abs(slopes[name] - formula[name])) < 1e-12
    ok_autograd = np.max(np.abs(slopes[name] - t.grad.numpy())) < 1e-12
    ok_value = np.max(np.abs(values[name] - out.detach().numpy())) < 1e-12
    print(f"{name:<12} {'max|差| < 1e-12: ' + str(ok_formula):<24} {'max|差| < 1e-12: ' + str(ok_autograd):<28} "
          f"{'max|差| < 1e-12: ' + str(ok_value)}")
""", tags=[CHECK]),
    code(r"""
fig, axes = plt.subplots(1, 5, figsize=(17, 3.6), sharex=True)
for ax, name in zip(axes, activations):
    ax.plot(z, values[name], lw=2, label="函数 σ(z)")
    ax.plot(z, slopes[name], lw=2, ls="--", label="导数 σ'(z)：nnlib 反向")
    ax.plot(z[::40], formula[name][::40], "o", ms=4, color="k", label="导数：公式")
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.set_title(name if name != "LeakyReLU" else f"LeakyReLU（a = {a}）")
    ax.set_xlabel("净输入 z")
    ax.set_ylim(-1.2, 2.2)
axes[0].legend(loc="upper left", fontsize=8)
fig.suptitle("五种激活函数（实线）及其导数（虚线）；黑点是按公式算出的导数", y=1.02)
fig.tight_layout()
plt.show()
"""),
    md(r"""
从图上可以读出几件事，下一格从上面算出的数组里把它们取出来核对：Sigmoid 的导数（橙色虚线）最高只有 0.25，tanh 的最高为 1，二者都在 $z = 0$ 处取到最大值，离开原点后迅速变小——在 $z = 3$ 处 Sigmoid 的导数已不到 0.05，tanh 的不到 0.01；
ReLU 的导数是 0/1 的阶跃，LeakyReLU 在负半轴保留了斜率 $a$。GELU 不是单调的：它在 $z \approx -0.75$ 处取到一个很浅的负的最小值（约 $-0.17$）；它的导数在 $z = \sqrt 2 \approx 1.41$ 处取到最大值，约 1.13，略大于 1
（对导数再求一次导，$\frac{d}{dz}\bigl[\Phi(z) + z\varphi(z)\bigr] = 2\varphi(z) + z\varphi'(z) = (2 - z^2)\,\varphi(z)$，在 $z = \pm\sqrt 2$ 处为 0）。
"""),
    code(r"""
def at(z0):
    return int(np.argmin(np.abs(z - z0)))                 # 网格上最接近 z0 的下标（网格步长 0.01）


for name in ["Sigmoid", "Tanh", "GELU"]:
    i = int(np.argmax(slopes[name]))
    print(f"{name:<8} 导数的最大值 {slopes[name][i]:.3f}，在 z = {z[i]:.2f} 处；z = 3 处的导数 {slopes[name][at(3)]:.4f}")
i = int(np.argmin(values["GELU"]))
print(f"GELU 的最小值 {values['GELU'][i]:.3f}，在 z = {z[i]:.2f} 处")
""", tags=[CHECK]),
    md(r"""
第 3.2 节会看到，这些导数的大小直接决定了误差信号能否穿过很多层。
"""),
]

cells += [
    md(r"""
### 2.1.5 从零写一个多层感知机的前向计算

现在把层串起来。由全连接层和逐元素激活函数交替组成的网络叫**多层感知机**（multilayer perceptron，MLP）。一个两层的 MLP（一个隐藏层）按源文档 2.1 节的写法是

$$
h = \tanh\!\left(W_1^\top x + b_1\right), \qquad \hat y = W_2^\top h + b_2 ,
$$

$$
x \in \mathbb{R}^{3},\quad W_1 \in \mathbb{R}^{3 \times 4},\quad b_1, h \in \mathbb{R}^{4},\quad W_2 \in \mathbb{R}^{4 \times 2},\quad b_2, \hat y \in \mathbb{R}^{2}.
$$

输出层通常不加激活函数（分类时再接 softmax，见第 3 章）。对按行存放的一批样本 $X \in \mathbb{R}^{N \times 3}$，转置后得到 $H = \tanh(X W_1 + \mathbf{1} b_1^\top)$，$\hat Y = H W_2 + \mathbf{1} b_2^\top$。
先用 NumPy 逐字照抄这两组式子：
"""),
    code(r"""
rng = np.random.default_rng(0)
n, m, k, N = 3, 4, 2, 5                     # 输入维数、隐藏单元数、输出维数、样本数

W1 = rng.standard_normal((n, m)); b1 = rng.standard_normal(m)     # 源文档的写法：W 是 n × m
W2 = rng.standard_normal((m, k)); b2 = rng.standard_normal(k)
X = rng.standard_normal((N, n))                                    # 一批样本，按行存放

# 单个样本（列向量），逐字照抄 h = σ(Wᵀx + b)
x = X[0]
h = np.tanh(W1.T @ x + b1)
y_hat = W2.T @ h + b2

# 一批样本：H = σ(X W + 1bᵀ)，广播负责 "+ 1bᵀ"
H = np.tanh(X @ W1 + b1)
Y_hat = H @ W2 + b2

print("x", x.shape, "→ h", h.shape, "→ ŷ", y_hat.shape)
print("X", X.shape, "→ H", H.shape, "→ Ŷ", Y_hat.shape)
print("批量计算的第 1 行 == 单个样本的计算:", np.allclose(Y_hat[0], y_hat, rtol=0, atol=1e-12))
""", tags=[CHECK]),
    md(r"""
接着把**同一组权重**装进 nnlib 和 PyTorch 的网络。两个库的 `state_dict` 使用相同的键（`"0.weight"` 是 `Sequential` 中第 0 个模块的 `weight`），
而 `weight` 的形状是"输出 × 输入"，所以要装入的是源文档 $W$ 的**转置**：
"""),
    code(r"""
model = nn.Sequential(nn.Linear(n, m), nn.Tanh(), nn.Linear(m, k)).double()
model.load_state_dict({"0.weight": W1.T, "0.bias": b1,      # weight = W_文档ᵀ，形状 (m, n)
                       "2.weight": W2.T, "2.bias": b2})
print(model)
print({name: v.shape for name, v in model.state_dict().items()})

torch_model = torch.nn.Sequential(torch.nn.Linear(n, m), torch.nn.Tanh(), torch.nn.Linear(m, k)).double()
torch_model.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(v))   # 直接用 nnlib 的 state_dict
                             for name, v in model.state_dict().items()})
print(torch_model)
""", tags=[CHECK]),
    md(r"""
三种实现各算一遍隐藏层 $H$ 和输出 $\hat Y$，两两比较。`model[:2]` 取出 `Sequential` 的前两个模块（`Linear` 和 `Tanh`），正好得到隐藏层的输出。
"""),
    code(r"""
with torch.no_grad():
    Xt = torch.from_numpy(X)
    results = {
        "从零实现": {"H": H, "Ŷ": Y_hat},
        "nnlib": {"H": model[:2](X), "Ŷ": model(X)},
        "PyTorch": {"H": torch_model[:2](Xt).numpy(), "Ŷ": torch_model(Xt).numpy()},
    }

for qty in ["H", "Ŷ"]:
    for other in ["nnlib", "PyTorch"]:
        a, b = results["从零实现"][qty], results[other][qty]
        diff = np.max(np.abs(a - b))
        print(f"{qty}: 从零实现 vs {other:<8} 形状 {a.shape} vs {b.shape}   max|差| < 1e-12: {diff < 1e-12}")
""", tags=[CHECK]),
    md(r"""
三者一致。nnlib 的 `gradcheck.compare` 可以把同样的比较整理成一张表（它原本用来比较梯度，第 3.2 节会大量使用；这里用它比较输出）。
表中"exact"一列说明两边是否**逐位**相同：nnlib 与我们的 NumPy 代码做的是同样的浮点运算，通常逐位相同；PyTorch 使用自己的矩阵乘法内核，求和顺序不同，结果可能差几个 $10^{-16}$——这属于舍入误差，不是错误。
"""),
    code(r"""
nnlib.gradcheck.compare(results, rtol=1e-12, atol=1e-12, what="output")
"""),
]

# ---------------------------------------------------------------------------------------- 2.2
cells += [
    md(r"""
## 2.2 深度学习的概念：深度带来了什么

### 2.2.1 一个隐藏层"理论上"就够了——为什么还要深？

**万能近似定理**（universal approximation theorem）说：只要隐藏单元足够多，一个隐藏层的网络就能以任意精度逼近有界闭区域上的任意连续函数 {cite}`hornik1989multilayer,cybenko1989approximation`。
那为什么还需要深层网络？因为这个定理只保证**存在**，没有说需要**多少**单元，也没有说梯度下降**能否找到**这组参数。深度的价值在于**效率**：

- **组合与复用。** 深层网络的第 $l$ 层在第 $l-1$ 层已经算好的特征上继续加工，简单的特征被许多更复杂的特征共享；浅层网络的每个隐藏单元都只能从原始输入从头算起。
- **层次化的表示。** 图像先是边缘，再是纹理和部件，最后是物体；语音先是频率成分，再是音素、词。许多真实数据本身就是"由简单部件组合而成"的，深层网络的结构与之吻合 {cite}`goodfellow2016deep,lecun2015deep`。

下面先看一个能严格证明"深比浅省得多"的例子，再用实验观察深层网络逐层学到的特征。

### 2.2.2 一个能证明的例子：锯齿函数

考虑 $[0, 1]$ 上的"帐篷"函数 $T(x)$：从 0 线性升到 $x = 1/2$ 处的 1，再降回 0。它可以由两个 ReLU 单元精确表示：

$$
T(x) = 2\,\mathrm{ReLU}(x) - 4\,\mathrm{ReLU}\!\left(x - \tfrac12\right), \qquad x \in [0, 1].
$$

（验证：$x \le 1/2$ 时第二项为 0，$T = 2x$；$x \ge 1/2$ 时 $T = 2x - 4x + 2 = 2 - 2x$。）$T$ 把 $[0,1]$ 映回 $[0,1]$，所以可以反复复合：
$T^{(k)} = T \circ T \circ \cdots \circ T$（$k$ 次）。每复合一次，每条线性段都被对折一次，线性段的个数翻倍：$T^{(k)}$ 有 $2^k$ 段，是一个有 $2^{k-1}$ 个齿的锯齿。

- **深层网络**：每复合一次只需再加一层 2 个 ReLU 单元，$k$ 层共 $2k$ 个隐藏单元。
- **单隐藏层网络**：$f(x) = c + \sum_{j=1}^{M} a_j\,\mathrm{ReLU}(w_j x + b_j)$ 是分段线性函数，只可能在 $M$ 个点 $x = -b_j / w_j$ 处改变斜率，所以**最多 $M + 1$ 段**。要表示 $T^{(k)}$ 就需要 $M \ge 2^k - 1$ 个单元。

深度从 $k$ 增加到 $k+1$，深层网络只多 2 个单元，浅层网络需要的单元却翻倍。这是 Telgarsky 关于"深度的好处"一系列结果中最简单的一个 {cite}`telgarsky2016benefits`。
下面用 nnlib 搭出这个网络——权重直接手工写进 `state_dict`，不需要训练。把 $T$ 的输出层 $2r_1 - 4r_2$ 与下一层的两个单元 $\mathrm{ReLU}(u)$、$\mathrm{ReLU}(u - \frac12)$ 合并，中间每层就是权重 $\begin{bmatrix} 2 & -4 \\ 2 & -4 \end{bmatrix}$、偏置 $(0, -\tfrac12)^\top$ 的一个 `Linear(2, 2)`。
"""),
    code(r"""
def sawtooth_net(k):
    # k 个宽度为 2 的 ReLU 隐藏层，精确计算 T 复合 k 次
    layers = [nn.Linear(1, 2), nn.ReLU()]
    for _ in range(k - 1):
        layers += [nn.Linear(2, 2), nn.ReLU()]
    net = nn.Sequential(*layers, nn.Linear(2, 1)).double()
    state = {"0.weight": np.array([[1.0], [1.0]]), "0.bias": np.array([0.0, -0.5])}   # r = ReLU(x), ReLU(x − ½)
    for i in range(1, k):                                   # u = 2r₁ − 4r₂，再分成 ReLU(u), ReLU(u − ½)
        state[f"{2 * i}.weight"] = np.array([[2.0, -4.0], [2.0, -4.0]])
        state[f"{2 * i}.bias"] = np.array([0.0, -0.5])
    state[f"{2 * k}.weight"] = np.array([[2.0, -4.0]])      # 输出 T = 2r₁ − 4r₂
    state[f"{2 * k}.bias"] = np.array([0.0])
    net.load_state_dict(state)
    return net


def count_pieces(f, k):
    # 在 [0,1] 的二进分点上数线性段：相邻两段斜率不同就算一个转折
    x = np.linspace(0, 1, 2 ** (k + 3) + 1)[:, None]       # 转折点都落在这些分点上
    slope = np.diff(f(x)[:, 0]) / np.diff(x[:, 0])
    return 1 + int(np.count_nonzero(np.abs(np.diff(slope)) > 1e-9))


print(f"{'k':>2} {'深层网络隐藏单元':>10} {'深层网络参数':>8} {'数出的线性段':>8} {'单隐藏层至少需要的单元':>14}")
for k in range(1, 9):
    net = sawtooth_net(k)
    params = sum(p.numel() for p in net.parameters())
    print(f"{k:>2} {2 * k:>16} {params:>14} {count_pieces(net, k):>14} {2 ** k - 1:>22}")
""", tags=[CHECK]),
    code(r"""
xs = np.linspace(0, 1, 1025)[:, None]
fig, axes = plt.subplots(1, 4, figsize=(15, 3), sharey=True)
for ax, k in zip(axes, [1, 2, 3, 5]):
    ax.plot(xs[:, 0], sawtooth_net(k)(xs)[:, 0], lw=1.5)
    ax.set_title(f"复合 {k} 次：{2 * k} 个隐藏单元，{2 ** k} 段")
    ax.set_xlabel("输入 x")
axes[0].set_ylabel("网络输出")
fig.suptitle("深度每加一层（2 个 ReLU 单元），锯齿的段数翻一倍", y=1.04)
fig.tight_layout()
plt.show()
"""),
    md(r"""
这个例子是构造出来的，但它说明了一个一般的道理：**复合**让函数的复杂度随层数成倍增长，而**并排堆宽**只让复杂度随单元数线性增长。
它也提醒我们"深"的代价：这个锯齿网络的输出对输入极其敏感（斜率是 $\pm 2^k$），第 3 章会看到，训练很深的网络同样要面对梯度逐层放大或缩小的问题。
"""),
]

cells += [
    md(r"""
### 2.2.3 实验：逐层观察深层网络学到的特征

现在让网络自己学。数据是两条交错的**螺旋线**（每类 200 个训练点、另外 200 个测试点，加少量噪声）：类别 0 沿螺旋从中心向外转 2.5 圈，类别 1 是它绕原点旋转 180° 的镜像。
两类在平面上反复交错，任何单一的简单特征都分不开它们。

网络有 4 个隐藏层，每层只有 8 个 tanh 单元：

$$
h^{(0)} = x \in \mathbb{R}^2, \qquad h^{(l)} = \tanh\!\left(W^{(l)} h^{(l-1)} + b^{(l)}\right) \in \mathbb{R}^{8}\;\; (l = 1, \dots, 4), \qquad z = W^{(5)} h^{(4)} + b^{(5)} \in \mathbb{R}^{2},
$$

其中 $W^{(1)} \in \mathbb{R}^{8 \times 2}$，$W^{(2)}, W^{(3)}, W^{(4)} \in \mathbb{R}^{8 \times 8}$，$W^{(5)} \in \mathbb{R}^{2 \times 8}$，共 $24 + 3 \times 72 + 18 = 258$ 个参数。

训练用交叉熵损失和**带动量的梯度下降**：对每个参数 $\theta$ 维护一个"速度" $v$（初值 0），每步 $v \leftarrow \mu v + \partial J / \partial \theta$，$\theta \leftarrow \theta - \eta v$，其中 $\mu = 0.9$。
它只比第 1 章的朴素梯度下降多了两行；第 3.3 节会分析它为什么通常比朴素梯度下降收敛得快，并介绍 Adam 等更多优化算法。
速度保存在名为 `momentum_buffer` 的字典里——这是 PyTorch 的 `torch.optim.SGD` 给同一个量起的名字。
这两行做的更新与 `torch.optim.SGD(model.parameters(), lr=0.015, momentum=0.9)` 以及 nnlib 的 `nnlib.optim.SGD` 完全相同（下面会验证）；这里把它写出来，是为了让每一步都看得见。
"""),
    code(r"""
def make_spirals(n_per_class, rng, turns=2.5, noise=0.1):
    # 两条交错的螺旋线：类别 0 从中心向外转 turns 圈，类别 1 是它旋转 180° 的镜像
    t = np.sqrt(rng.uniform(0, 1, n_per_class)) * turns * 2 * np.pi   # 角度（开方：外圈的点不至于太稀）
    r = 2.0 * t / (turns * 2 * np.pi)                                   # 半径从 0 增到 2
    arm = np.c_[r * np.cos(t), r * np.sin(t)]
    X = np.r_[arm, -arm] + noise * rng.standard_normal((2 * n_per_class, 2))
    y = np.r_[np.zeros(n_per_class), np.ones(n_per_class)].astype(np.int64)
    return X, y


rng = np.random.default_rng(0)
X_train, y_train = make_spirals(200, rng)
X_test, y_test = make_spirals(200, rng)


def deep_net(width=8, depth=4):
    layers = [nn.Linear(2, width), nn.Tanh()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(width, 2)).double()


def train(model, X, y, lr=0.015, momentum=0.9, steps=3000):
    criterion = nn.CrossEntropyLoss()
    momentum_buffer = {}                                    # 每个参数的速度 v
    losses = []
    for step in range(steps):
        loss = criterion(model(X), y)
        model.zero_grad()
        model.backward(criterion.backward())
        for name, p in model.named_parameters():
            v = momentum * momentum_buffer.get(name, 0.0) + p.grad   # v ← μv + ∂J/∂θ
            momentum_buffer[name] = v
            p.data -= lr * v                                          # θ ← θ − ηv
        losses.append(float(loss))
    return losses


def accuracy(model, X, y):
    return float((model(X).argmax(axis=1) == y).mean())


nnlib.manual_seed(0)
deep = deep_net()
deep_losses = train(deep, X_train, y_train)
print(f"参数个数: {sum(p.numel() for p in deep.parameters())}")
print(f"最终训练损失: {deep_losses[-1]:.2f}   训练准确率: {accuracy(deep, X_train, y_train):.4f}   "
      f"测试准确率: {accuracy(deep, X_test, y_test):.4f}")
""", tags=[CHECK]),
    md(r"""
先确认手写的动量循环就是 `nnlib.optim.SGD`：两份相同初始化的网络各训练 20 步，一份用上面的 `train`，一份用优化器对象，比较全部参数。
"""),
    code(r"""
from nnlib.optim import SGD

nnlib.manual_seed(0)
net_a = deep_net()
train(net_a, X_train, y_train, steps=20)                 # 手写的动量循环

nnlib.manual_seed(0)
net_b = deep_net()
optimizer = SGD(net_b.parameters(), lr=0.015, momentum=0.9)
criterion = nn.CrossEntropyLoss()
for step in range(20):
    criterion(net_b(X_train), y_train)
    net_b.zero_grad()
    net_b.backward(criterion.backward())
    optimizer.step()                                      # 同样的 v ← μv + g，θ ← θ − ηv

same = all(np.max(np.abs(p.data - q.data)) < 1e-12 for p, q in zip(net_a.parameters(), net_b.parameters()))
print("20 步后两份网络的参数一致（max|差| < 1e-12）:", same)
""", tags=[CHECK]),
    md(r"""
只有 258 个参数的网络分对了 92.5% 的训练点，测试准确率 0.8875（螺旋中心附近两类靠得很近，又有噪声，那里的错误最多）。
训练集和测试集各有 400 个点，准确率总是 0.0025 的整数倍，所以本节的表格打印四位小数：那正是它的精确值。下面是这个网络学到的决策区域：
"""),
    code(r"""
g = np.linspace(-2.6, 2.6, 160)
gx, gy = np.meshgrid(g, g)
grid = np.c_[gx.ravel(), gy.ravel()]                       # 平面上 160×160 个点


def p_class1(model, points):
    z = model(points)
    return 1 / (1 + np.exp(-(z[:, 1] - z[:, 0])))          # softmax 的第 2 个分量


def plot_regions(ax, model, title):
    ax.contourf(gx, gy, p_class1(model, grid).reshape(gx.shape), levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(gx, gy, p_class1(model, grid).reshape(gx.shape), levels=[0.5], colors="k", linewidths=1)
    ax.scatter(X_test[:, 0], X_test[:, 1], c=y_test, cmap="RdBu_r", edgecolors="k", s=12, linewidths=0.4)
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")


fig, ax = plt.subplots(figsize=(5, 5))
plot_regions(ax, deep, f"4 个隐藏层 × 8 单元（测试准确率 {accuracy(deep, X_test, y_test):.4f}）")
plt.show()
"""),
    md(r"""
**每一层的单元在"看"什么？** 对平面上的每个点 $x$ 做一次前向计算，记下第 $l$ 层第 $j$ 个单元的输出 $h^{(l)}_j(x) \in (-1, 1)$，画成一张热力图，就能看到这个单元对输入平面的哪些区域有反应。
`deep[:2*l]` 取出网络的前 $l$ 个隐藏层（每层是 `Linear` 加 `Tanh` 两个模块）。下图每行是一层、每列是该层的一个单元；红色表示接近 $+1$，蓝色表示接近 $-1$。
"""),
    code(r"""
hidden = {l: deep[:2 * l](grid) for l in range(1, 5)}      # 第 l 层在整个平面上的输出，形状 (160·160, 8)

fig, axes = plt.subplots(4, 8, figsize=(16, 8.4))
for l in range(1, 5):
    for j in range(8):
        ax = axes[l - 1, j]
        ax.imshow(hidden[l][:, j].reshape(gx.shape), origin="lower", extent=(-2.6, 2.6, -2.6, 2.6),
                  cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if j == 0:
            ax.set_ylabel(f"第 {l} 层", fontsize=12)
        if l == 1:
            ax.set_title(f"单元 {j + 1}", fontsize=10)
fig.suptitle("各隐藏层单元对输入平面的响应：第 1 层只会画直线，越往后形状越复杂、越贴近螺旋", fontsize=13)
fig.tight_layout()
plt.show()
"""),
    md(r"""
这张图就是"层次化特征"的具体样子：

- **第 1 层**的每个单元都是 $\tanh(w^\top x + b)$，它的等值线 $w^\top x + b = c$ 必然是**直线**：每个单元只是把平面沿某个方向一分为二（练习 4 会让你算出这条直线）。这是最简单的特征。
- **第 2 层**的单元是第 1 层 8 个"半平面"的非线性组合，开始出现折角、条带和楔形区域。
- **第 3、4 层**在前一层的基础上继续组合，出现弯曲的、沿螺旋方向延伸的区域，越来越接近最终要分开的两类。

源文档 2.2 节说"较浅层的特征捕获简单的模式，较深层的特征学到更抽象和复杂的模式"——在这个二维例子里，"简单"就是直线，"复杂"就是贴合螺旋的弯曲区域。

**定量地看：每一层的表示"线性可分"到什么程度？** 一个常用的办法是**线性探针**（linear probe）：冻结网络，取第 $l$ 层的输出 $h^{(l)}$ 作为特征，在上面训练一个线性分类器（这里用 scikit-learn 的逻辑回归），看它在测试集上的准确率。
如果某一层的表示已经把两类"理顺"了，线性分类器在它上面就能做得很好。
"""),
    code(r"""
from sklearn.linear_model import LogisticRegression

print(f"{'表示':<14} {'维数':>4} {'线性探针的测试准确率':>12}")
for l in range(0, 5):
    F_train = X_train if l == 0 else deep[:2 * l](X_train)
    F_test = X_test if l == 0 else deep[:2 * l](X_test)
    # 牛顿法求到（唯一的）最优解：结果不取决于迭代在哪一步停下
    probe = LogisticRegression(solver="newton-cholesky", tol=1e-10).fit(F_train, y_train)
    label = "输入 x" if l == 0 else f"第 {l} 层 h({l})"
    print(f"{label:<14} {F_train.shape[1]:>5} {probe.score(F_test, y_test):>16.4f}")
""", tags=[CHECK]),
    md(r"""
在原始输入上，线性分类器只比随机猜测（0.5）略好（0.5875）；前两层的表示仍然很难线性分开（0.6 左右），到第 3 层准确率跃升到 0.8475，第 4 层为 0.88，与整个网络（0.8875）相当。
可分性并不是每层都均匀增加的——这个网络把大部分"理顺"的工作放在了第 3 层——但趋势很清楚：**越深的表示越接近线性可分**，最后的输出层只需在上面画一个超平面。

还可以直接把每层的 8 维表示投影到二维来看。下面用主成分分析（PCA，取方差最大的两个方向）把 $h^{(l)}$ 投影到平面上，按真实类别着色：
"""),
    code(r"""
from sklearn.decomposition import PCA

fig, axes = plt.subplots(1, 5, figsize=(17, 3.6))
for l, ax in enumerate(axes):
    F = X_train if l == 0 else deep[:2 * l](X_train)
    P = F if l == 0 else PCA(n_components=2).fit_transform(F)
    ax.scatter(P[:, 0], P[:, 1], c=y_train, cmap="RdBu_r", s=8, edgecolors="none")
    ax.set_title("输入 x" if l == 0 else f"第 {l} 层（PCA 投影）")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("训练集在各层的表示：两条交错的螺旋被逐层拉开", y=1.03)
fig.tight_layout()
plt.show()
"""),
]

cells += [
    md(r"""
### 2.2.4 参数一样多：深而窄 vs 浅而宽

最后做一个对照：一个只有**一个**隐藏层的网络 $2 \to 51 \to 2$，参数个数 $51 \times 2 + 51 + 2 \times 51 + 2 = 257$，与上面的深层网络（258）几乎相同。
两个网络用**完全相同**的训练方法（同样的动量梯度下降、学习率和 3000 步），各用 3 个随机种子初始化，比较最终的训练损失和准确率。
"""),
    code(r"""
def shallow_net(hidden=51):
    return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 2)).double()


print(f"浅层网络参数个数: {sum(p.numel() for p in shallow_net().parameters())}")
print(f"{'种子':<4} {'网络':<11} {'第1000步损失':>8} {'最终损失':>6} {'训练准确率':>6} {'测试准确率':>6}")
runs = {}
for seed in range(3):
    for kind, make in [("深：4×8", deep_net), ("浅：1×51", shallow_net)]:
        if seed == 0 and kind.startswith("深"):
            model, losses = deep, deep_losses                # 上面已经用种子 0 训练过
        else:
            nnlib.manual_seed(seed)
            model = make()
            losses = train(model, X_train, y_train)
        runs[seed, kind] = (model, losses)
        print(f"{seed:<5} {kind:<10} {losses[999]:>10.2f} {losses[-1]:>10.2f} {accuracy(model, X_train, y_train):>10.4f} "
              f"{accuracy(model, X_test, y_test):>10.4f}")
""", tags=[CHECK]),
    code(r"""
fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
shallow0 = runs[0, "浅：1×51"][0]
plot_regions(axes[0], deep, f"深：4 层 × 8 单元（测试准确率 {accuracy(deep, X_test, y_test):.4f}）")
plot_regions(axes[1], shallow0, f"浅：1 层 × 51 单元（测试准确率 {accuracy(shallow0, X_test, y_test):.4f}）")
for (seed, kind), (model, losses) in runs.items():
    axes[2].plot(losses, color="C0" if kind.startswith("深") else "C1", lw=1.2,
                 label=kind if seed == 0 else None)
axes[2].set_yscale("log")
axes[2].set_xlabel("训练步数")
axes[2].set_ylabel("训练损失（对数坐标）")
axes[2].set_title("3 个种子的损失曲线")
axes[2].legend()
fig.tight_layout()
plt.show()
"""),
    md(r"""
在这个设定下，深而窄的网络在 3 个种子上的训练损失（0.18、0.37、0.45）都低于同样参数量的浅层网络（0.56–0.58），浅层网络三次的准确率都只有 0.6 左右；深层网络则**对初始化敏感得多**：种子 0 的测试准确率达到 0.8875，种子 1、2 只有 0.73 左右。损失曲线和表中"第 1000 步损失"一列揭示了原因：第 1000 步时，三个深层网络的损失（0.58–0.65）都还不比浅层网络（0.59）低——它们先在一个**平台**上停留很久，然后才开始快速下降，何时离开平台取决于初始权重；种子 1、2 离开得晚，到第 3000 步时仍在下降。浅层网络的损失则一直缓慢而平稳地下降，到第 3000 步也只降到 0.56 左右，它的决策区域只是几块粗糙的斑块，远没有贴合螺旋。

**不要过度解读这个实验。** 它说明在相同的参数预算和相同的训练方法下，深层网络更有效地利用了参数；但结论依赖于优化方法和训练步数。
下面只改一处：把动量梯度下降换成第 3.3 节的 Adam（`nnlib.optim.Adam`，学习率 0.01，其余取默认值），用同样的 3 个种子重新训练浅层网络，而且只训练 1000 步。
"""),
    code(r"""
from nnlib.optim import Adam, SGD


def train_with(optimizer, model, X, y, steps=1000):
    criterion = nn.CrossEntropyLoss()
    for step in range(steps):
        loss = criterion(model(X), y)
        model.zero_grad()
        model.backward(criterion.backward())
        optimizer.step()
    return float(loss)


adam_runs = {}
print(f"{'种子':<4} {'网络':<11} {'第1000步损失':>8} {'训练准确率':>6} {'测试准确率':>6}")
for seed in range(3):
    nnlib.manual_seed(seed)
    model = shallow_net()
    loss = train_with(Adam(model.parameters(), lr=0.01), model, X_train, y_train)
    adam_runs[seed] = (model, loss)
    print(f"{seed:<5} {'浅：1×51':<10} {loss:>10.4f} {accuracy(model, X_train, y_train):>10.4f} {accuracy(model, X_test, y_test):>10.4f}")
"""),
    md(r"""
这一次浅层网络拟合得很好。上表最后几位的数字不一定与你看到的相同（原因见下文），下一格只核对每台机器上都成立的结论：
"""),
    code(r"""
print("3 个浅层网络第 1000 步的训练损失都低于 0.2:", all(loss < 0.2 for model, loss in adam_runs.values()))
print("训练准确率都高于 0.95:", all(accuracy(model, X_train, y_train) > 0.95 for model, loss in adam_runs.values()))
print("测试准确率都高于 0.85:", all(accuracy(model, X_test, y_test) > 0.85 for model, loss in adam_runs.values()))
""", tags=[CHECK]),
    md(r"""
同样的 257 个参数，动量法在第 1000 步的损失是 0.59、到第 3000 步也只有 0.56 左右，准确率 0.6 左右；换成 Adam，1000 步后损失就低于 0.2，训练准确率高于 0.95，测试准确率高于 0.85。
所以 2.2.4 节的对照说明的是**在这个优化器和这个训练步数下**深层网络更有效，并不是浅层网络表示不了这个函数。
深度的好处在 2.2.2 节那样的例子里可以严格证明，在真实任务中则主要是经验事实——而深层网络**更难训练**（初始化、梯度消失、优化器的选择）也是事实，这正是第 3 章要解决的问题。

**为什么 Adam 的数字不逐位核对？** 不同的 CPU 和 BLAS 库做同一个矩阵乘法时，求和顺序可能不同，结果在最后一位上就可能不同（约 $10^{-16}$ 的相对差别）。
训练会不会把这么小的差别放大，取决于训练过程本身。下面做一个实验：把种子 0 的浅层网络的初始权重乘上 $1 + 10^{-12}\xi$（$\xi$ 是标准正态随机数），
分别用 Adam 和动量法训练 1000 步，比较扰动前后两次训练得到的参数相差多少：
"""),
    code(r"""
def flat(model):
    return np.concatenate([p.data.ravel() for p in model.parameters()])


for name, make_optimizer in [("Adam", lambda params: Adam(params, lr=0.01)),
                             ("动量法", lambda params: SGD(params, lr=0.015, momentum=0.9))]:
    finals, starts = [], []
    for perturbed in [False, True]:
        nnlib.manual_seed(0)
        model = shallow_net()
        if perturbed:
            noise = np.random.default_rng(123)              # 两种优化器用同一个扰动
            for p in model.parameters():
                p.data *= 1 + 1e-12 * noise.standard_normal(p.data.shape)
        starts.append(flat(model))
        train_with(make_optimizer(model.parameters()), model, X_train, y_train)
        finals.append(flat(model))
    growth = np.linalg.norm(finals[1] - finals[0]) / np.linalg.norm(starts[1] - starts[0])
    if name == "Adam":
        print(f"Adam：1000 步后参数之差超过初始差的 10^6 倍: {growth > 1e6}")
    else:
        print(f"动量法：1000 步后参数之差不到初始差的 10 倍: {growth < 10}")
""", tags=[CHECK]),
    md(r"""
动量法的这段训练是**良态的**（well-conditioned）：初始的微小差别 1000 步后仍是同一量级，机器之间的舍入差别不会改变表中打印出来的那几位数字。
Adam 的这段训练则把差别放大了一百万倍以上，所以即使是 $10^{-16}$ 量级的舍入差别，也可能变成表中打印出来的那几位数字的差别。原因之一是 Adam 把每个坐标的梯度除以它自己的均方根（第 3.3 节）：某个坐标的梯度很小时，梯度里极小的差别也会变成与学习率同一量级的步长差别。
这并不说明 Adam 的结果不可靠——三个种子的结论都一样——只说明比较这类训练时，应当比较结论和统计量，而不是小数点后的每一位。
"""),
    md(r"""
## 小结

- 一个神经元计算 $\sigma(w^\top x + b)$；$m$ 个神经元组成一层。源文档 2.1 节写作 $h = \sigma(W^\top x + b)$，其中 $W \in \mathbb{R}^{n \times m}$；本书与 PyTorch 一样写作 $h = \sigma(Wx + b)$，$W \in \mathbb{R}^{m \times n}$（即源文档 $W$ 的转置，与 3.1 节一致）。按行存放的一批样本计算 $XW^\top + b$。
- 激活函数提供非线性；它的导数决定误差信号能否穿过这一层。Sigmoid 的导数不超过 $1/4$，tanh 不超过 1，二者都会饱和；ReLU 系列在正半轴导数为 1。
- 一个两层网络的前向计算只有两行 NumPy；同一组权重装进 nnlib 和 PyTorch 后，三者的结果在浮点舍入误差内一致。
- 深度的价值在于组合：锯齿函数的例子中，深层网络用 $2k$ 个单元表示的函数，单隐藏层网络至少需要 $2^k - 1$ 个单元。
- 训练后的深层网络确实学到了层次化的特征：第 1 层只有直线边界，越深的层越复杂、越线性可分。
"""),
    md(r"""
## 练习

做法与第 1 章相同：把 `raise NotImplementedError` 换成你的答案并运行，再运行下面的自检格。
"""),
    code(CHECK_HELPER),
]

cells += ex.add(
    "实现一个新的激活函数：SiLU",
    r"""
**SiLU**（sigmoid linear unit，也叫 Swish）是与 GELU 相近的另一种"光滑版 ReLU"：$\mathrm{SiLU}(z) = z\,\sigma(z)$，其中 $\sigma$ 是 sigmoid {cite}`hendrycks2016gelu`。

1. 推导它的导数，并用 $\sigma(z)$ 表示：$\mathrm{SiLU}'(z) = \;?$
2. 仿照 2.1.4 节打印的 nnlib `Sigmoid`，写一个模块 `SiLU`：`forward(z)` 返回 $z\,\sigma(z)$，并用 `self.save_for_backward(...)` 保存反向计算需要的数组；
   `backward(grad_output)` 用 `self.saved_for_backward(grad_output)` 取回它们，返回 $\delta \odot \mathrm{SiLU}'(z)$（$\delta$ 就是 `grad_output`）。只用 NumPy。

自检会做三件事：用**中心差分** $\bigl(\mathrm{SiLU}(z + \epsilon) - \mathrm{SiLU}(z - \epsilon)\bigr) / 2\epsilon$ 检查你的导数（float64，$\epsilon = 10^{-6}$）；
把 `forward` 与 `torch.nn.functional.silu` 比较；把 `backward` 在一个随机的 $\delta$ 上与 PyTorch 的自动微分比较。
""",
    r"""
class SiLU(nn.Module):
    def forward(self, z):
        # 返回 z·σ(z)；用 self.save_for_backward(...) 保存 backward 需要的数组
        raise NotImplementedError

    def backward(self, grad_output):
        # (...) = self.saved_for_backward(grad_output)；返回 grad_output ⊙ SiLU'(z)
        raise NotImplementedError
""",
    r"""
def test_silu():
    zs = np.linspace(-6, 6, 121)                          # float64
    eps = 1e-6
    act = SiLU()
    act(zs)
    slope = np.asarray(act.backward(np.ones_like(zs)), dtype=np.float64)       # δ = 1：得到 SiLU'(z)
    numeric = (np.asarray(SiLU()(zs + eps)) - np.asarray(SiLU()(zs - eps))) / (2 * eps)
    if slope.shape != zs.shape or not np.allclose(slope, numeric, rtol=0, atol=1e-7):
        return False, "backward(全 1) 给出的导数与中心差分不一致。对 z·σ(z) 用乘积法则，再代入 σ' = σ(1 − σ)。"
    t = torch.tensor(zs, requires_grad=True)
    y_torch = torch.nn.functional.silu(t)
    delta = np.random.default_rng(5).standard_normal(zs.shape)                 # 任意的误差信号 δ
    (y_torch * torch.from_numpy(delta)).sum().backward()                      # autograd：t.grad = δ ⊙ SiLU'(z)
    y = np.asarray(act(zs), dtype=np.float64)
    if not np.allclose(y, y_torch.detach().numpy(), rtol=0, atol=1e-12):
        return False, "forward 与 torch.nn.functional.silu 不一致：应返回 z·σ(z)。"
    grad = np.asarray(act.backward(delta), dtype=np.float64)
    return np.allclose(grad, t.grad.numpy(), rtol=0, atol=1e-12), \
        "backward 与 PyTorch 的自动微分不一致：应返回 grad_output ⊙ SiLU'(z)，而不只是 SiLU'(z)。"


check_answer("练习 1", test_silu)
""",
    r"""
class SiLU(nn.Module):
    def forward(self, z):
        s = 1 / (1 + np.exp(-z))                  # σ(z)
        self.save_for_backward(z, s)
        return z * s

    def backward(self, grad_output):
        z, s = self.saved_for_backward(grad_output)
        return grad_output * s * (1 + z * (1 - s))    # SiLU'(z) = σ(z)(1 + z(1 − σ(z)))
""",
    r"""
由乘积法则和 $\sigma' = \sigma(1 - \sigma)$：$\mathrm{SiLU}'(z) = \sigma(z) + z\,\sigma(z)\bigl(1 - \sigma(z)\bigr) = \sigma(z)\bigl(1 + z(1 - \sigma(z))\bigr)$。
`forward` 保存 $z$ 和 $\sigma(z)$，`backward` 就不必再算一次指数函数——nnlib 的 `Sigmoid` 和 `Tanh` 也是这样缓存前向的结果，供反向使用。
和 GELU 一样，SiLU 不是单调的：它在负半轴有一个很浅的最小值（导数在那里为 0），在正半轴的导数则会略大于 1。
（`1 / (1 + np.exp(-z))` 在 $z < -709$ 时 `np.exp` 会溢出并给出警告；nnlib 的 `Sigmoid` 只计算 $e^{-\lvert z \rvert}$，避免了这个问题。）
""",
)

cells += ex.add(
    "用 sigmoid 表示 tanh",
    r"""
证明 $\tanh(z) = 2\,\sigma(2z) - 1$（$\sigma$ 是 sigmoid），并只用 `sigmoid` 实现 `tanh_via_sigmoid(z)`。
再由此推出 $\tanh'(z)$ 与 $\sigma'$ 的关系：$\tanh'(z) = 4\,\sigma'(2z)$——这说明 tanh 的最大导数（1）正好是 sigmoid 的（1/4）的 4 倍。
""",
    r"""
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def tanh_via_sigmoid(z):
    # 只能调用上面的 sigmoid 和加减乘除
    raise NotImplementedError
""",
    r"""
def test_tanh_via_sigmoid():
    z = np.linspace(-5, 5, 101)
    got = tanh_via_sigmoid(z)
    ok = np.allclose(got, np.tanh(z), atol=1e-12)
    return ok, "与 np.tanh 不一致。把 σ(2z) = 1/(1+e^(−2z)) 代入 2σ(2z) − 1 化简看看。"


check_answer("练习 2", test_tanh_via_sigmoid)
""",
    r"""
def tanh_via_sigmoid(z):
    return 2 * sigmoid(2 * z) - 1
""",
    r"""
$2\sigma(2z) - 1 = \dfrac{2}{1 + e^{-2z}} - 1 = \dfrac{1 - e^{-2z}}{1 + e^{-2z}} = \dfrac{e^{z} - e^{-z}}{e^{z} + e^{-z}} = \tanh z$（分子分母同乘 $e^{z}$）。
两边对 $z$ 求导：$\tanh'(z) = 2 \cdot 2\,\sigma'(2z) = 4\,\sigma'(2z)$，最大值 $4 \times \tfrac14 = 1$，在 $z = 0$ 处取到。
""",
)

cells += ex.add(
    "任意深度的前向传播",
    r"""
用本书的写法（$W^{(l)}$ 形状为"输出 × 输入"）实现任意层数网络的前向计算：

$$
h^{(0)} = x, \qquad h^{(l)} = \tanh\!\left(W^{(l)} h^{(l-1)} + b^{(l)}\right) \;(l < L), \qquad \hat y = W^{(L)} h^{(L-1)} + b^{(L)} .
$$

`params` 是列表 `[(W1, b1), (W2, b2), ...]`，输入 `X` 按行存放（形状 `(N, d0)`），最后一层**不加**激活函数。只用 NumPy。
自检会把你的结果与 `nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))` 在同样的参数下比较。
""",
    r"""
def mlp_forward(X, params):
    raise NotImplementedError
""",
    r"""
def test_mlp_forward():
    nnlib.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    params = [(layer.weight.data, layer.bias.data) for layer in net if isinstance(layer, nn.Linear)]
    Xc = np.random.default_rng(4).standard_normal((7, 3))
    got = np.asarray(mlp_forward(Xc, params))
    if got.shape != (7, 2):
        return False, f"输出形状应为 (7, 2)，你的是 {got.shape}。按行存放时是 X @ W.T。"
    return np.allclose(got, net(Xc), atol=1e-12), "数值与 nnlib 不一致。最后一层不要加 tanh。"


check_answer("练习 3", test_mlp_forward)
""",
    r"""
def mlp_forward(X, params):
    h = X
    for l, (W, b) in enumerate(params):
        h = h @ W.T + b                    # 按行存放：H = H_prev Wᵀ + 1bᵀ
        if l < len(params) - 1:            # 最后一层不加激活函数
            h = np.tanh(h)
    return h
""",
    r"""
对按行存放的批量，$h = \tanh(Wh_{\text{prev}} + b)$ 转置后是 `h @ W.T + b`。注意循环的最后一次不加激活函数。
""",
)

cells += ex.add(
    "第 1 层单元的边界是直线",
    r"""
2.2.3 节的图中，第 1 层的每个单元 $h_j = \tanh(w_j^\top x + b_j)$ 都把平面分成两半，分界线（$h_j = 0$ 的等值线）是一条直线。
写函数 `boundary_x2(w, b, x1)`：给定该单元的权重 $w = (w_1, w_2)$（假设 $w_2 \ne 0$）、偏置 $b$ 和横坐标 `x1`（数组），返回这条直线上对应的纵坐标 $x_2$。
自检会用训练好的 `deep` 网络第 1 层的真实参数检验：在你算出的点上，该单元的输出应为 0。
""",
    r"""
def boundary_x2(w, b, x1):
    raise NotImplementedError
""",
    r"""
def test_boundary_x2():
    W, bias = deep[0].weight.data, deep[0].bias.data         # 第 1 层：W 形状 (8, 2)
    x1 = np.linspace(-2, 2, 9)
    for j in range(8):
        x2 = np.asarray(boundary_x2(W[j], bias[j], x1), dtype=np.float64)
        out = deep[:2](np.c_[x1, x2])[:, j]                   # 该单元在这些点上的输出
        if not np.allclose(out, 0, atol=1e-9):
            return False, f"单元 {j + 1} 在你给出的点上输出 {np.round(out[:3], 3)}…，不是 0。解方程 w₁x₁ + w₂x₂ + b = 0。"
    return True, ""


check_answer("练习 4", test_boundary_x2)
""",
    r"""
def boundary_x2(w, b, x1):
    # tanh(t) = 0 ⇔ t = 0：解 w1·x1 + w2·x2 + b = 0
    return -(w[0] * x1 + b) / w[1]
""",
    r"""
$\tanh(t) = 0 \iff t = 0$，所以分界线是 $w_1 x_1 + w_2 x_2 + b = 0$，即 $x_2 = -(w_1 x_1 + b)/w_2$——关于 $x_1$ 的一次函数，是直线。
同理 $h_j = c$ 的任何等值线都是 $w_j^\top x + b_j = \operatorname{artanh}(c)$，是与它平行的直线；第 2 层起的单元是 $\tanh$ 的非线性组合，等值线就不再是直线了。
""",
)

cells += ex.verification_cells()

if __name__ == "__main__":
    build("ch02_core_concepts", cells)
